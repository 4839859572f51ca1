using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BertSharp.Text;

/// <summary>Counts for one split (or the whole corpus) in a manifest.</summary>
public sealed class SplitCounts
{
    /// <summary>Non-empty documents.</summary>
    public long Documents { get; set; }
    /// <summary>Sentences (all non-empty).</summary>
    public long Sentences { get; set; }
    /// <summary>WordPiece tokens.</summary>
    public long Tokens { get; set; }
    /// <summary>Basic-tokenizer words (before WordPiece), for tokens-per-word.</summary>
    public long Words { get; set; }
    /// <summary>Tokens that came out as [UNK].</summary>
    public long UnkTokens { get; set; }

    internal void Add(SplitCounts o)
    {
        Documents += o.Documents;
        Sentences += o.Sentences;
        Tokens += o.Tokens;
        Words += o.Words;
        UnkTokens += o.UnkTokens;
    }
}

/// <summary>manifest.json of a tokenized corpus: what it was built from and what it holds. Written last,
/// so a folder without it is an unfinished build.</summary>
public sealed class TokenizedCorpusManifest
{
    /// <summary>The format version this code writes and reads; a store of another version is rebuilt.</summary>
    public const int CurrentFormatVersion = 1;
    /// <summary>The format version of this store.</summary>
    public int FormatVersion { get; set; } = CurrentFormatVersion;
    /// <summary>SHA-256 of everything that determines the content (input fingerprint, vocabulary, settings).</summary>
    public string BuildKey { get; set; } = "";
    /// <summary>Path of the corpus it was built from.</summary>
    public string Source { get; set; } = "";
    /// <summary>The reader's <see cref="CorpusFormat"/>, as a name.</summary>
    public string SourceFormat { get; set; } = "";
    /// <summary>The reader's fingerprint of the input (sizes and times, see <see
    /// cref="CorpusReader.Fingerprint"/>).</summary>
    public string SourceFingerprint { get; set; } = "";
    /// <summary>Full path of the vocab.txt used.</summary>
    public string VocabularyPath { get; set; } = "";
    /// <summary>SHA-256 of that vocabulary.</summary>
    public string VocabularySha256 { get; set; } = "";
    /// <summary>Vocabulary size (ids are below it).</summary>
    public int VocabSize { get; set; }
    /// <summary>Ids of [PAD], [UNK], [CLS], [SEP], [MASK], in that order.</summary>
    public int[] SpecialTokenIds { get; set; } = [];
    /// <summary>Whether the text was lower-cased (uncased tokenizer).</summary>
    public bool LowerCase { get; set; }
    /// <summary>WordPiece's limit: longer words become [UNK].</summary>
    public int MaxInputCharsPerWord { get; set; }
    /// <see cref="CorpusTokenizer.Version"/> of the code that built the store.
    public string TokenizerVersion { get; set; } = "";
    /// <summary>2 (uint16) when every id fits, else 4 (int32); little-endian.</summary>
    public int IdBytes { get; set; }
    /// <summary>Non-empty documents stored.</summary>
    public long Documents { get; set; }
    /// <summary>Sentences stored.</summary>
    public long Sentences { get; set; }
    /// <summary>Tokens stored.</summary>
    public long Tokens { get; set; }
    /// <summary>Basic-tokenizer words (before WordPiece).</summary>
    public long Words { get; set; }
    /// <summary>Tokens that came out as [UNK].</summary>
    public long UnkTokens { get; set; }
    /// <summary>Documents without any token, left out.</summary>
    public long EmptyDocumentsDropped { get; set; }
    /// <summary>Invalid UTF-8 sequences the reader replaced.</summary>
    public long InvalidUtf8 { get; set; }
    /// <summary>Names of the documents' splits (<see cref="ITokenizedCorpus.SplitNames"/>).</summary>
    public string[] SplitNames { get; set; } = [];
    /// <summary>Counts per split, in the order of <see cref="SplitNames"/>.</summary>
    public SplitCounts[] Splits { get; set; } = [];
    /// <summary>When the store was completed.</summary>
    public DateTime CreatedUtc { get; set; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Reads a manifest; <see cref="InvalidDataException"/> when it is not valid JSON of this shape.</summary>
    public static TokenizedCorpusManifest Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TokenizedCorpusManifest>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: empty manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: unreadable manifest ({e.Message.Split('.')[0]})");
        }
    }

    /// <summary>Writes the manifest atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, Json));
        File.Move(tmp, path, overwrite: true);
    }
}

/// <summary>
/// The tokenized corpus on disk (format in docs/TEXT.md): <c>tokens.bin</c> (ids, uint16 or int32),
/// <c>sentences.bin</c> (int64 start of each sentence in tokens, plus the total), <c>documents.bin</c>
/// (16-byte records: int64 first sentence, int16 split, int8 label, uint8 rating, 4 reserved; plus a
/// final record whose first sentence is the total) and <c>manifest.json</c>.
/// </summary>
public static class TokenizedCorpusFiles
{
    /// <summary>File names inside a store's folder.</summary>
    public const string Tokens = "tokens.bin", Sentences = "sentences.bin", Documents = "documents.bin", Manifest = "manifest.json";
    /// <summary>Size of one record of documents.bin.</summary>
    public const int DocumentRecordBytes = 16;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct DocumentRecord
{
    public long FirstSentence;
    public short Split;
    public sbyte Label;
    public byte Rating;
    public int Reserved;
}

/// <summary>Writes a tokenized corpus streaming (constant memory), into temporary files that become the
/// real ones only in <see cref="Complete"/>; disposing without completing deletes them.</summary>
public sealed class TokenizedCorpusWriter : IDisposable
{
    private readonly string _dir;
    private readonly BufferedStream _tokens, _sentences, _documents;
    private readonly int _idBytes;
    private readonly int _vocabSize;
    private readonly byte[] _scratch = new byte[1 << 16];
    private long _tokenCount, _sentenceCount, _documentCount;
    private bool _completed;

    /// <summary>Starts a store in <paramref name="dir"/> (created if needed; an old manifest there is deleted first).
    /// Ids are stored as uint16 when <paramref name="vocabSize"/> ≤ 65536, else int32.</summary>
    public TokenizedCorpusWriter(string dir, int vocabSize)
    {
        _dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(_dir);
        // An old manifest would make a half-written folder look complete: remove it first.
        File.Delete(Path.Combine(_dir, TokenizedCorpusFiles.Manifest));
        _vocabSize = vocabSize;
        _idBytes = vocabSize <= 65536 ? 2 : 4;
        _tokens = Open(TokenizedCorpusFiles.Tokens);
        _sentences = Open(TokenizedCorpusFiles.Sentences);
        _documents = Open(TokenizedCorpusFiles.Documents);
    }

    /// <summary>Bytes per stored id: 2 or 4.</summary>
    public int IdBytes => _idBytes;
    /// <summary>Tokens written so far.</summary>
    public long TokenCount => _tokenCount;
    /// <summary>Sentences written so far.</summary>
    public long SentenceCount => _sentenceCount;
    /// <summary>Documents written so far.</summary>
    public long DocumentCount => _documentCount;

    private BufferedStream Open(string name) =>
        new(new FileStream(Path.Combine(_dir, name + ".tmp"), FileMode.Create, FileAccess.Write, FileShare.None, 1), 1 << 20);

    /// <summary>Appends one document: its ids back to back and the length of each sentence (all &gt; 0).</summary>
    public void AddDocument(ReadOnlySpan<int> ids, ReadOnlySpan<int> sentenceLengths, DocumentInfo info)
    {
        if (sentenceLengths.Length == 0) throw new ArgumentException("sentenceLengths: a document needs at least one sentence", nameof(sentenceLengths));
        long sum = 0;
        foreach (int l in sentenceLengths)
        {
            if (l <= 0) throw new ArgumentException($"sentenceLengths: sentence length {l} is not positive", nameof(sentenceLengths));
            sum += l;
        }
        if (sum != ids.Length) throw new ArgumentException($"ids: the sentence lengths add up to {sum}, got {ids.Length} ids", nameof(ids));
        if (info.Split is < 0 or > short.MaxValue || info.Label is < -128 or > 127 || info.Rating is < 0 or > 255)
            throw new ArgumentException($"info: {info} does not fit the store's document record", nameof(info));

        WriteDocumentRecord(_sentenceCount, info);
        foreach (int l in sentenceLengths)
        {
            WriteInt64(_sentences, _tokenCount);
            _tokenCount += l;
            _sentenceCount++;
        }
        WriteIds(ids);
        _documentCount++;
    }

    private void WriteIds(ReadOnlySpan<int> ids)
    {
        int perChunk = _scratch.Length / _idBytes;
        for (int start = 0; start < ids.Length; start += perChunk)
        {
            var chunk = ids.Slice(start, Math.Min(perChunk, ids.Length - start));
            if (_idBytes == 2)
            {
                var dst = MemoryMarshal.Cast<byte, ushort>(_scratch.AsSpan(0, chunk.Length * 2));
                for (int i = 0; i < chunk.Length; i++)
                {
                    int id = chunk[i];
                    if ((uint)id >= (uint)_vocabSize) throw new ArgumentException($"ids: id {id} is outside the vocabulary of {_vocabSize}", nameof(ids));
                    dst[i] = (ushort)id;
                }
                _tokens.Write(_scratch, 0, chunk.Length * 2);
            }
            else
            {
                foreach (int id in chunk)
                    if ((uint)id >= (uint)_vocabSize) throw new ArgumentException($"ids: id {id} is outside the vocabulary of {_vocabSize}", nameof(ids));
                _tokens.Write(MemoryMarshal.AsBytes(chunk));
            }
        }
    }

    private void WriteDocumentRecord(long firstSentence, DocumentInfo info)
    {
        var r = new DocumentRecord { FirstSentence = firstSentence, Split = (short)info.Split, Label = (sbyte)info.Label, Rating = (byte)info.Rating };
        _documents.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<DocumentRecord>(in r)));
    }

    private static void WriteInt64(Stream s, long v)
    {
        Span<byte> b = stackalloc byte[8];
        BitConverter.TryWriteBytes(b, v);
        s.Write(b);
    }

    /// <summary>Writes the closing records, renames the files into place and writes the manifest last.</summary>
    public void Complete(TokenizedCorpusManifest manifest)
    {
        WriteInt64(_sentences, _tokenCount);
        WriteDocumentRecord(_sentenceCount, new DocumentInfo(0, -1, 0));
        foreach (var s in new[] { _tokens, _sentences, _documents })
        {
            s.Flush();
            ((FileStream)s.UnderlyingStream).Flush(flushToDisk: true);
            s.Dispose();
        }
        foreach (var name in new[] { TokenizedCorpusFiles.Tokens, TokenizedCorpusFiles.Sentences, TokenizedCorpusFiles.Documents })
            File.Move(Path.Combine(_dir, name + ".tmp"), Path.Combine(_dir, name), overwrite: true);
        manifest.IdBytes = _idBytes;
        manifest.VocabSize = _vocabSize;
        manifest.Documents = _documentCount;
        manifest.Sentences = _sentenceCount;
        manifest.Tokens = _tokenCount;
        manifest.Save(Path.Combine(_dir, TokenizedCorpusFiles.Manifest));
        _completed = true;
    }

    /// <summary>Without <see cref="Complete"/>: closes and deletes the temporary files. After it: nothing.</summary>
    public void Dispose()
    {
        if (_completed) return;
        _completed = true;
        foreach (var s in new[] { _tokens, _sentences, _documents })
            try { s.Dispose(); } catch (IOException) { }
        foreach (var name in new[] { TokenizedCorpusFiles.Tokens, TokenizedCorpusFiles.Sentences, TokenizedCorpusFiles.Documents })
            File.Delete(Path.Combine(_dir, name + ".tmp"));
    }
}

/// <summary>A tokenized corpus opened from disk, memory-mapped (nothing is loaded up front). Safe for
/// concurrent readers; dispose to unmap.</summary>
public sealed unsafe class TokenizedCorpusStore : ITokenizedCorpus, IDisposable
{
    private readonly MappedFile _tokens, _sentences, _documents;
    private readonly byte* _tokenBase;
    private readonly long* _sentenceStarts;
    private readonly DocumentRecord* _docs;
    private readonly bool _wide;

    private TokenizedCorpusStore(string dir, TokenizedCorpusManifest manifest)
    {
        Directory = dir;
        Manifest = manifest;
        _wide = manifest.IdBytes == 4;
        _tokens = new MappedFile(Path.Combine(dir, TokenizedCorpusFiles.Tokens));
        _sentences = new MappedFile(Path.Combine(dir, TokenizedCorpusFiles.Sentences));
        _documents = new MappedFile(Path.Combine(dir, TokenizedCorpusFiles.Documents));
        _tokenBase = _tokens.Pointer;
        _sentenceStarts = (long*)_sentences.Pointer;
        _docs = (DocumentRecord*)_documents.Pointer;
    }

    /// <summary>Full path of the store's folder.</summary>
    public string Directory { get; }
    /// <summary>The store's manifest.</summary>
    public TokenizedCorpusManifest Manifest { get; }
    /// <summary>Tokens in the whole store.</summary>
    public long TokenCount => Manifest.Tokens;
    /// <summary>Sentences in the whole store.</summary>
    public long TotalSentences => Manifest.Sentences;
    /// <inheritdoc/>
    public int DocumentCount => (int)Manifest.Documents;
    /// <inheritdoc/>
    public int VocabSize => Manifest.VocabSize;
    /// <inheritdoc/>
    public IReadOnlyList<string> SplitNames => Manifest.SplitNames;
    /// <summary>Ids of the special tokens in the store's vocabulary.</summary>
    public SpecialTokenIds SpecialTokenIds =>
        new(Manifest.SpecialTokenIds[0], Manifest.SpecialTokenIds[1], Manifest.SpecialTokenIds[2], Manifest.SpecialTokenIds[3], Manifest.SpecialTokenIds[4]);

    /// <summary>True when <paramref name="dir"/> holds a complete store (manifest present, file sizes consistent).</summary>
    public static bool IsComplete(string dir, out TokenizedCorpusManifest? manifest)
    {
        manifest = null;
        var path = Path.Combine(dir, TokenizedCorpusFiles.Manifest);
        if (!File.Exists(path)) return false;
        try { manifest = TokenizedCorpusManifest.Load(path); }
        catch (InvalidDataException) { return false; }
        return Problem(dir, manifest) == null;
    }

    private static string? Problem(string dir, TokenizedCorpusManifest m)
    {
        if (m.FormatVersion != TokenizedCorpusManifest.CurrentFormatVersion) return $"format version {m.FormatVersion}, expected {TokenizedCorpusManifest.CurrentFormatVersion}";
        if (m.IdBytes is not (2 or 4)) return $"id width {m.IdBytes} bytes";
        if (m.SpecialTokenIds.Length != 5) return "special token ids missing";
        if (m.Documents > int.MaxValue) return "too many documents";
        (string Name, long Bytes)[] expect =
        [
            (TokenizedCorpusFiles.Tokens, m.Tokens * m.IdBytes),
            (TokenizedCorpusFiles.Sentences, (m.Sentences + 1) * 8),
            (TokenizedCorpusFiles.Documents, (m.Documents + 1) * TokenizedCorpusFiles.DocumentRecordBytes),
        ];
        foreach (var (name, bytes) in expect)
        {
            var fi = new FileInfo(Path.Combine(dir, name));
            if (!fi.Exists) return $"{name} is missing";
            if (fi.Length != bytes) return $"{name} has {fi.Length:N0} bytes, the manifest implies {bytes:N0}";
        }
        return null;
    }

    /// <summary>Opens (memory-maps) the store in <paramref name="dir"/>; <see cref="InvalidDataException"/> when it is
    /// unfinished or its files do not match the manifest.</summary>
    public static TokenizedCorpusStore Open(string dir)
    {
        var path = Path.Combine(dir, TokenizedCorpusFiles.Manifest);
        if (!File.Exists(path)) throw new InvalidDataException($"{dir}: not a tokenized corpus (no {TokenizedCorpusFiles.Manifest}; an unfinished build leaves none)");
        var m = TokenizedCorpusManifest.Load(path);
        var problem = Problem(dir, m);
        if (problem != null) throw new InvalidDataException($"{dir}: corrupt tokenized corpus ({problem})");
        return new TokenizedCorpusStore(Path.GetFullPath(dir), m);
    }

    private long FirstSentence(int document)
    {
        if ((uint)document >= (uint)DocumentCount) throw new ArgumentOutOfRangeException(nameof(document), $"document {document} is outside 0..{DocumentCount - 1}");
        return _docs[document].FirstSentence;
    }

    /// <inheritdoc/>
    public int SentenceCount(int document)
    {
        long first = FirstSentence(document);
        return (int)(_docs[document + 1].FirstSentence - first);
    }

    private long SentenceIndex(int document, int sentence)
    {
        long first = FirstSentence(document);
        long count = _docs[document + 1].FirstSentence - first;
        if ((ulong)sentence >= (ulong)count) throw new ArgumentOutOfRangeException(nameof(sentence), $"sentence {sentence} is outside 0..{count - 1} of document {document}");
        return first + sentence;
    }

    /// <inheritdoc/>
    public int SentenceLength(int document, int sentence)
    {
        long s = SentenceIndex(document, sentence);
        return (int)(_sentenceStarts[s + 1] - _sentenceStarts[s]);
    }

    /// <inheritdoc/>
    public int CopySentence(int document, int sentence, Span<int> destination)
    {
        long s = SentenceIndex(document, sentence);
        long start = _sentenceStarts[s];
        int length = (int)(_sentenceStarts[s + 1] - start);
        if (destination.Length < length) throw new ArgumentException($"destination: need {length} ints, got {destination.Length}", nameof(destination));
        if (_wide) new ReadOnlySpan<int>((int*)_tokenBase + start, length).CopyTo(destination);
        else
        {
            var src = new ReadOnlySpan<ushort>((ushort*)_tokenBase + start, length);
            for (int i = 0; i < length; i++) destination[i] = src[i];
        }
        return length;
    }

    /// <inheritdoc/>
    public DocumentInfo GetDocumentInfo(int document)
    {
        FirstSentence(document);
        var r = _docs[document];
        return new DocumentInfo(r.Split, r.Label, r.Rating);
    }

    /// <summary>Unmaps the files; the store must not be read afterwards.</summary>
    public void Dispose()
    {
        _tokens.Dispose();
        _sentences.Dispose();
        _documents.Dispose();
    }

    /// <summary>A read-only mapping of a whole file; an empty file maps to a null pointer (never read).</summary>
    private sealed class MappedFile : IDisposable
    {
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private bool _disposed;

        public MappedFile(string path)
        {
            long length = new FileInfo(path).Length;
            if (length == 0) return;
            _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            Pointer = p + _view.PointerOffset;
        }

        public byte* Pointer { get; }

        public void Dispose()
        {
            if (_view == null || _disposed) return;
            _disposed = true;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _file!.Dispose();
        }
    }
}
