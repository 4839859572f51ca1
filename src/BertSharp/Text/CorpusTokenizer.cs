using BertSharp.Files;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace BertSharp.Text;

/// <summary>
/// Tokenizes a whole corpus once into a <see cref="TokenizedCorpusStore"/>: clean → split sentences →
/// basic tokenizer → WordPiece, on all cores, written in reading order (the output does not depend on
/// the thread count). Documents with no tokens are dropped, as Google's create_pretraining_data.py does.
/// </summary>
public static class CorpusTokenizer
{
    /// <summary>Changes whenever a rule that changes token ids changes, so stores built before are rebuilt.</summary>
    public const string Version = "bertsharp-text-1";

    /// <summary>The build key: the input's fingerprint, the vocabulary's hash and every setting that affects ids.</summary>
    public static string BuildKey(CorpusReader reader, Vocabulary vocab, TokenizeOptions options) =>
        BuildKey(reader.Format, reader.Fingerprint(), vocab, options);

    private static string BuildKey(CorpusFormat format, string fingerprint, Vocabulary vocab, TokenizeOptions options) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n",
            Version, format.ToString(), fingerprint, vocab.Sha256, options.LowerCase ? "uncased" : "cased",
            options.MaxInputCharsPerWord.ToString()))));

    /// <summary>Builds the store in <paramref name="outDir"/>, or keeps the one there if it was built
    /// from the same inputs (same build key) and is complete. <paramref name="outDir"/> goes through
    /// <see cref="OutputPaths.Check"/>: never the corpus, the vocabulary or a folder around them; anything else already
    /// there is replaced only with <see cref="TokenizeOptions.Replace"/>.</summary>
    public static TokenizeResult Build(CorpusReader reader, Vocabulary vocab, string vocabPath, string outDir,
        TokenizeOptions options, IProgress<TokenizeProgress>? progress = null, CancellationToken cancel = default)
    {
        OutputPaths.Check(outDir, nameof(outDir), folder: true, replace: true, "", reader.Path, vocabPath);
        string fingerprint = reader.Fingerprint(); // enumerates a folder's files: once
        string key = BuildKey(reader.Format, fingerprint, vocab, options);
        if (TokenizedCorpusStore.IsComplete(outDir, out var existing) && existing!.BuildKey == key)
            return new TokenizeResult(existing, true, null);
        OutputPaths.Check(outDir, nameof(outDir), folder: true, options.Replace, "TokenizeOptions.Replace", reader.Path, vocabPath);
        var manifest = new TokenizedCorpusManifest
        {
            BuildKey = key,
            Source = reader.Path,
            SourceFormat = reader.Format.ToString(),
            SourceFingerprint = fingerprint,
            VocabularyPath = Path.GetFullPath(vocabPath),
        };
        // The new store is written beside the old one and replaces it only when complete: a failed or interrupted
        // rebuild leaves the previous store as it was.
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        string building = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".building");
        var created = CreatedFolders.Missing(Path.GetDirectoryName(full)!);
        try
        {
            if (Directory.Exists(building)) Directory.Delete(building, recursive: true); // left by a killed build
            Write(reader.ReadDocuments(cancel), reader.SplitNames, vocab, building, options, manifest, progress, cancel);
            if (manifest.Documents == 0)
                throw new InvalidDataException($"{reader.Path}: the corpus has no text to tokenize");
            manifest.InvalidUtf8 = reader.Stats.InvalidUtf8;
            manifest.Save(Path.Combine(building, TokenizedCorpusFiles.Manifest));
            AtomicFolder.Replace(building, full);
        }
        catch
        {
            try { if (Directory.Exists(building)) Directory.Delete(building, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            CreatedFolders.RemoveEmpty(created); // the output's parents this build made
            throw;
        }
        return new TokenizeResult(manifest, false, reader.Stats);
    }

    private sealed class Worker(Vocabulary vocab, TokenizeOptions options)
    {
        public readonly BertTokenizer Tokenizer = new(vocab, options.LowerCase, options.MaxInputCharsPerWord);
        public readonly List<Range> Sentences = [];
        public char[] Text = new char[1 << 14];
    }

    private sealed class Batch(int splits)
    {
        public void Reset()
        {
            Ids.Clear();
            SentenceLengths.Clear();
            Documents.Clear();
            foreach (var c in Counts) { c.Documents = c.Sentences = c.Tokens = c.Words = c.UnkTokens = 0; }
            Chars = Empty = 0;
        }

        public readonly List<int> Ids = new(1 << 16);
        public readonly List<int> SentenceLengths = new(1 << 12);
        public readonly List<(int Sentences, DocumentInfo Info)> Documents = [];
        public readonly SplitCounts[] Counts = Enumerable.Range(0, splits).Select(_ => new SplitCounts()).ToArray();
        public long Chars;
        public long Empty;
    }

    /// <summary>Tokenizes <paramref name="documents"/> into a store in <paramref name="outDir"/> (no reuse check)
    /// and fills <paramref name="manifest"/>'s counts. An empty corpus throws and leaves no store.</summary>
    public static void Write(IEnumerable<CorpusDocument> documents, IReadOnlyList<string> splitNames, Vocabulary vocab,
        string outDir, TokenizeOptions options, TokenizedCorpusManifest manifest, IProgress<TokenizeProgress>? progress = null,
        CancellationToken cancel = default)
    {
        int splits = splitNames.Count;
        var totals = Enumerable.Range(0, splits).Select(_ => new SplitCounts()).ToArray();
        long empty = 0, docs = 0, chars = 0, tokens = 0;
        int unk = vocab.SpecialIds.Unk;
        using var writer = new TokenizedCorpusWriter(outDir, vocab.Count);
        // Batches are recycled: their id lists are large-object-heap sized, and churning them costs full GCs.
        var pool = new System.Collections.Concurrent.ConcurrentBag<Batch>();
        CorpusWorkers.Run(documents, options.EffectiveThreads,
            () => new Worker(vocab, options),
            (w, batch) =>
            {
                if (!pool.TryTake(out var result)) result = new Batch(splits);
                result.Reset();
                foreach (var doc in batch)
                {
                    if ((uint)doc.Info.Split >= (uint)splits) throw new InvalidDataException($"{doc.Name}: split {doc.Info.Split} is not one of the corpus's {splits}");
                    int length = doc.CleanInto(ref w.Text); // may replace w.Text: read it after
                    var text = w.Text.AsSpan(0, length);
                    result.Chars += doc.Length;
                    w.Sentences.Clear();
                    SentenceSplitter.Split(text, w.Sentences);
                    var counts = result.Counts[doc.Info.Split];
                    int sentences = 0;
                    foreach (var range in w.Sentences)
                    {
                        int start = result.Ids.Count;
                        int n = w.Tokenizer.Encode(text[range], result.Ids);
                        counts.Words += w.Tokenizer.LastWordCount;
                        if (n == 0) continue;
                        var added = CollectionsMarshal.AsSpan(result.Ids).Slice(start, n);
                        counts.UnkTokens += added.Count(unk);
                        result.SentenceLengths.Add(n);
                        sentences++;
                    }
                    if (sentences == 0) result.Empty++;
                    else
                    {
                        counts.Documents++;
                        counts.Sentences += sentences;
                    }
                    result.Documents.Add((sentences, doc.Info));
                }
                return result;
            },
            batch =>
            {
                var ids = CollectionsMarshal.AsSpan(batch.Ids);
                var lengths = CollectionsMarshal.AsSpan(batch.SentenceLengths);
                int tokenAt = 0, sentenceAt = 0;
                foreach (var (sentences, info) in batch.Documents)
                {
                    if (sentences == 0) continue;
                    var docLengths = lengths.Slice(sentenceAt, sentences);
                    int n = 0;
                    foreach (int l in docLengths) n += l;
                    writer.AddDocument(ids.Slice(tokenAt, n), docLengths, info);
                    totals[info.Split].Tokens += n;
                    tokenAt += n;
                    sentenceAt += sentences;
                }
                for (int s = 0; s < splits; s++)
                {
                    var c = batch.Counts[s];
                    totals[s].Documents += c.Documents;
                    totals[s].Sentences += c.Sentences;
                    totals[s].Words += c.Words;
                    totals[s].UnkTokens += c.UnkTokens;
                }
                empty += batch.Empty;
                docs += batch.Documents.Count;
                chars += batch.Chars;
                tokens += tokenAt;
                progress?.Report(new TokenizeProgress(docs, chars, tokens));
                pool.Add(batch);
            },
            cancel);
        if (writer.DocumentCount == 0) return; // disposing the writer deletes its temporary files
        var all = new SplitCounts();
        foreach (var t in totals) all.Add(t);
        manifest.SplitNames = splitNames.ToArray();
        manifest.Splits = totals;
        manifest.Words = all.Words;
        manifest.UnkTokens = all.UnkTokens;
        manifest.EmptyDocumentsDropped = empty;
        manifest.LowerCase = options.LowerCase;
        manifest.MaxInputCharsPerWord = options.MaxInputCharsPerWord;
        manifest.TokenizerVersion = Version;
        manifest.VocabularySha256 = vocab.Sha256;
        var sp = vocab.SpecialIds;
        manifest.SpecialTokenIds = [sp.Pad, sp.Unk, sp.Cls, sp.Sep, sp.Mask];
        manifest.CreatedUtc = DateTime.UtcNow;
        writer.Complete(manifest);
    }
}
