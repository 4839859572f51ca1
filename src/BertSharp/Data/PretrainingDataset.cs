using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>
/// The pretraining items of one side of the split (training or validation), following Google's
/// <c>create_pretraining_data.py</c>. Holds only an index of sentence lengths (8 bytes a sentence);
/// tokens stay in the corpus (memory-mapped for the on-disk store) and are copied when a batch is
/// written. Immutable and safe to share between threads; items are a pure function of
/// (seed, copy, document) and of which documents this side holds.
/// </summary>
public sealed class PretrainingDataset
{
    private readonly ITokenizedCorpus _corpus;
    private readonly int[] _documents;      // corpus document of each position on this side
    private readonly int[] _docStart;       // first table sentence of each position; one extra entry at the end
    private readonly int[] _sentenceLength; // tokens of each non-empty sentence
    private readonly int[] _sentenceIndex;  // its index within its corpus document
    private readonly int[] _positionOfDocument; // corpus document -> position here, -1 when not on this side

    /// <summary>How items are cut and masked.</summary>
    public PretrainingOptions Options { get; }
    /// <summary>The tokenized corpus the sentences come from.</summary>
    public ITokenizedCorpus Corpus => _corpus;

    /// <summary>Documents on this side that have at least one token (empty ones are dropped, as Google does).</summary>
    public int DocumentCount => _documents.Length;

    /// <summary>Non-empty sentences on this side (the size of the sentence table).</summary>
    public int SentenceCount => _sentenceLength.Length;
    /// <summary>Tokens in those sentences.</summary>
    public long TokenCount { get; }

    /// <summary>Longest sentence in tokens (sizes the copy buffer).</summary>
    public int MaxSentenceLength { get; }

    /// <summary>Indexes the sentences of <paramref name="documents"/> for NSP/MLM items; validates <paramref name="options"/> against the corpus (<see cref="ArgumentException"/>).</summary>
    /// <param name="corpus">the tokenized corpus</param>
    /// <param name="options">sequence length, masking and seed</param>
    /// <param name="documents">corpus documents of this side (from <see cref="DocumentSplit"/>)</param>
    /// <param name="sideName">"training" or "validation": named in error messages</param>
    public PretrainingDataset(ITokenizedCorpus corpus, IReadOnlyList<int> documents, PretrainingOptions options, string sideName = "training")
    {
        options.Validate(corpus.VocabSize);
        _corpus = corpus;
        Options = options;
        var docs = new List<int>(documents.Count);
        var starts = new List<int>(documents.Count + 1);
        var lengths = new List<int>();
        var indices = new List<int>();
        long tokens = 0;
        int maxSentence = 0;
        _positionOfDocument = new int[corpus.DocumentCount];
        Array.Fill(_positionOfDocument, -1);
        foreach (int d in documents)
        {
            if ((uint)d >= (uint)corpus.DocumentCount)
                throw new ArgumentException($"{sideName} documents: {d} is outside the corpus of {corpus.DocumentCount} documents");
            if (_positionOfDocument[d] >= 0)
                throw new ArgumentException($"{sideName} documents: {d} is listed twice");
            int first = lengths.Count;
            int n = corpus.SentenceCount(d);
            for (int s = 0; s < n; s++)
            {
                int len = corpus.SentenceLength(d, s);
                if (len == 0) continue;
                lengths.Add(len);
                indices.Add(s);
                tokens += len;
                maxSentence = Math.Max(maxSentence, len);
            }
            if (lengths.Count == first) continue; // no tokens: contributes nothing, as in Google's reader
            _positionOfDocument[d] = docs.Count;
            docs.Add(d);
            starts.Add(first);
        }
        starts.Add(lengths.Count);
        if (docs.Count < 2)
            throw new ArgumentException(docs.Count == 0
                ? $"{sideName} corpus: no document has any tokens"
                : $"{sideName} corpus: only one document (#{docs[0]}); next-sentence pairs need at least two documents to draw random B segments from");
        _documents = docs.ToArray();
        _docStart = starts.ToArray();
        _sentenceLength = lengths.ToArray();
        _sentenceIndex = indices.ToArray();
        TokenCount = tokens;
        MaxSentenceLength = maxSentence;
    }

    /// <summary>The corpus sentence index of a table sentence (as referenced by <see cref="PretrainingItem"/>).</summary>
    public int SentenceIndexOf(int tableSentence) => _sentenceIndex[tableSentence];

    /// <summary>Tokens of a table sentence.</summary>
    public int SentenceLengthOf(int tableSentence) => _sentenceLength[tableSentence];

    /// <summary>Table sentences [first, end) of a corpus document on this side.</summary>
    public (int First, int End) SentencesOf(int corpusDocument)
    {
        int p = _positionOfDocument[corpusDocument];
        if (p < 0) throw new ArgumentException($"document {corpusDocument} is not on this side of the split");
        return (_docStart[p], _docStart[p + 1]);
    }

    /// <summary>True when the corpus document is on this side (and not empty).</summary>
    public bool Contains(int corpusDocument) =>
        (uint)corpusDocument < (uint)_positionOfDocument.Length && _positionOfDocument[corpusDocument] >= 0;

    /// <summary>The corpus documents on this side, in order.</summary>
    public ReadOnlySpan<int> Documents => _documents;

    /// <summary>
    /// Plans every item of one copy (static: copy = epoch mod dupe_factor; dynamic: copy = epoch), in
    /// document order, into <paramref name="items"/> (grown when too small). Returns the count.
    /// </summary>
    public int PlanCopy(long copy, ref PretrainingItem[] items)
    {
        int count = 0;
        for (int p = 0; p < _documents.Length; p++)
            count = PlanDocument(p, copy, ref items, count);
        return count;
    }

    /// <summary>
    /// Google's <c>create_instances_from_document</c> for the document at position
    /// <paramref name="position"/>, appending at <paramref name="count"/>; returns the new count.
    /// Differences from Google, on purpose: a random B always comes from another document (Google
    /// retries 10 times and may keep its own); the stream is ours (xoshiro256**), not Python's.
    /// </summary>
    public int PlanDocument(int position, long copy, ref PretrainingItem[] items, int count)
    {
        int doc = _documents[position];
        var rng = DataRng.Create(DataRng.TagPlan, Options.Seed, (ulong)copy, (ulong)doc);
        int maxNumTokens = Options.MaxSeqLength - 3;
        // One target length per document and copy, as in Google's code.
        int target = maxNumTokens;
        if (rng.NextDouble() < Options.ShortSeqProb) target = rng.NextInclusive(2, maxNumTokens);

        int first = _docStart[position], end = _docStart[position + 1];
        int chunkStart = first, currentLength = 0, ordinal = 0;
        var lengths = _sentenceLength;
        for (int i = first; i < end; i++)
        {
            currentLength += lengths[i];
            if (i != end - 1 && currentLength < target) continue;

            int chunkCount = i - chunkStart + 1;
            int aEnd = chunkCount >= 2 ? rng.NextInclusive(1, chunkCount - 1) : 1;
            int lengthA = 0;
            for (int j = chunkStart; j < chunkStart + aEnd; j++) lengthA += lengths[j];

            PretrainingItem item = default;
            item.DocumentA = doc;
            item.FirstA = chunkStart;
            item.EndA = chunkStart + aEnd;
            item.Ordinal = ordinal++;
            int lengthB = 0;
            if (chunkCount == 1 || rng.NextDouble() < 0.5)
            {
                item.IsRandomNext = true;
                item.ForcedRandom = chunkCount == 1;
                int targetB = target - lengthA;
                // Uniform over the other documents of this side.
                int other = rng.NextInt(_documents.Length - 1);
                if (other >= position) other++;
                int otherFirst = _docStart[other], otherEnd = _docStart[other + 1];
                int start = otherFirst + rng.NextInt(otherEnd - otherFirst);
                int j = start;
                while (j < otherEnd)
                {
                    lengthB += lengths[j++];
                    if (lengthB >= targetB) break;
                }
                item.DocumentB = _documents[other];
                item.FirstB = start;
                item.EndB = j;
                // Put the unused segments back: the next chunk starts right after A.
                i -= chunkCount - aEnd;
            }
            else
            {
                item.DocumentB = doc;
                item.FirstB = chunkStart + aEnd;
                item.EndB = i + 1;
                lengthB = currentLength - lengthA;
            }

            // truncate_seq_pair: trim the longer side (B on ties), front or back at random, one token at a time.
            while (lengthA + lengthB > maxNumTokens)
            {
                bool front = rng.NextDouble() < 0.5;
                if (lengthA > lengthB)
                {
                    if (front) item.TrimAFront++; else item.TrimABack++;
                    lengthA--;
                }
                else
                {
                    if (front) item.TrimBFront++; else item.TrimBBack++;
                    lengthB--;
                }
            }
            item.LengthA = lengthA;
            item.LengthB = lengthB;

            if (count == items.Length) Array.Resize(ref items, Math.Max(16, items.Length * 2));
            items[count++] = item;
            chunkStart = i + 1;
            currentLength = 0;
        }
        return count;
    }

    /// <summary>Copies the kept tokens of sentences [first, end) of a document, skipping
    /// <paramref name="skip"/> leading tokens, into <paramref name="destination"/> (exactly its length).</summary>
    internal void CopyTokens(int document, int first, int skip, Span<int> destination, Span<int> scratch)
    {
        int written = 0;
        for (int s = first; written < destination.Length; s++)
        {
            int len = _sentenceLength[s];
            if (skip >= len) { skip -= len; continue; }
            int take = Math.Min(len - skip, destination.Length - written);
            if (skip == 0 && take == len)
            {
                _corpus.CopySentence(document, _sentenceIndex[s], destination.Slice(written, len));
            }
            else
            {
                _corpus.CopySentence(document, _sentenceIndex[s], scratch);
                scratch.Slice(skip, take).CopyTo(destination.Slice(written));
            }
            written += take;
            skip = 0;
        }
    }

    /// <summary>Items of epoch <paramref name="epoch"/> (they vary slightly between copies); plans the
    /// copy, so call it once per run (for a schedule's step count), not per step.</summary>
    public int ItemCount(long epoch)
    {
        var items = new PretrainingItem[Math.Max(16, _documents.Length * 2)];
        return PlanCopy(Options.CopyForEpoch(epoch), ref items);
    }

    /// <summary>Batches the loader yields in epoch <paramref name="epoch"/>.</summary>
    public int BatchCount(long epoch, int batchSize, bool dropLast = true)
    {
        int n = ItemCount(epoch);
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /// <summary>Fisher–Yates permutation of [0, count) for an epoch, keyed by (seed, epoch).</summary>
    public static void ShuffledOrder(ulong seed, long epoch, Span<int> order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var rng = DataRng.Create(DataRng.TagShuffle, seed, (ulong)epoch);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }
}
