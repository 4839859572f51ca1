namespace BertSharp.Text;

/// <summary>
/// A tokenized corpus as the pretraining items see it: documents made of sentences of token ids.
/// The on-disk store (memory-mapped) and <see cref="InMemoryTokenizedCorpus"/> (tests, small data)
/// both implement it. Implementations are safe for concurrent readers.
/// </summary>
public interface ITokenizedCorpus
{
    /// <summary>Number of documents; they are indexed 0..DocumentCount − 1.</summary>
    int DocumentCount { get; }

    /// <summary>Size of the vocabulary the ids index into.</summary>
    int VocabSize { get; }

    /// <summary>Names of the splits documents belong to (for IMDB: train/pos etc.); index 0 when the
    /// corpus has none is "all".</summary>
    IReadOnlyList<string> SplitNames { get; }

    /// <summary>Sentences in <paramref name="document"/>.</summary>
    int SentenceCount(int document);

    /// <summary>Tokens in a sentence of a document.</summary>
    int SentenceLength(int document, int sentence);

    /// <summary>Copies one sentence's ids into <paramref name="destination"/> (at least
    /// <see cref="SentenceLength"/> long) and returns the count written.</summary>
    int CopySentence(int document, int sentence, Span<int> destination);

    /// <summary>Split, label and rating of <paramref name="document"/>.</summary>
    DocumentInfo GetDocumentInfo(int document);
}

/// <summary>Where a document came from: its split (index into <see cref="ITokenizedCorpus.SplitNames"/>),
/// its class label (−1 when unlabelled) and, for IMDB, the star rating from the file name (0 when none).</summary>
public readonly record struct DocumentInfo(int Split, int Label, int Rating);

/// <summary>The ids of BERT's special tokens in a given vocabulary. Vocabularies we train put them first
/// (0..4); published ones differ (bert-base-uncased: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103).</summary>
public readonly record struct SpecialTokenIds(int Pad, int Unk, int Cls, int Sep, int Mask)
{
    /// <summary>The ids of vocabularies we train: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4.</summary>
    public static SpecialTokenIds Default => new(0, 1, 2, 3, 4);

    /// <summary>True for any of the five special ids.</summary>
    public bool IsSpecial(int id) => id == Pad || id == Unk || id == Cls || id == Sep || id == Mask;
}

/// <summary>A corpus held in memory: each document is a list of sentences of ids.</summary>
public sealed class InMemoryTokenizedCorpus : ITokenizedCorpus
{
    private readonly int[][][] _documents;
    private readonly DocumentInfo[] _info;

    /// <summary>A corpus over <paramref name="documents"/> (not copied; [document][sentence][token]); <paramref
    /// name="info"/> per document (unlabelled, split 0 when null) and <paramref name="splitNames"/> (["all"] when
    /// null). Throws <see cref="ArgumentException"/> on an id outside the vocabulary.</summary>
    public InMemoryTokenizedCorpus(int vocabSize, IReadOnlyList<int[][]> documents,
        IReadOnlyList<DocumentInfo>? info = null, IReadOnlyList<string>? splitNames = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        if (info != null && info.Count != documents.Count)
            throw new ArgumentException($"info: need {documents.Count} entries, got {info.Count}", nameof(info));
        VocabSize = vocabSize;
        _documents = documents.ToArray();
        _info = info?.ToArray() ?? Enumerable.Repeat(new DocumentInfo(0, -1, 0), documents.Count).ToArray();
        SplitNames = splitNames ?? ["all"];
        for (int d = 0; d < _documents.Length; d++)
            foreach (var sentence in _documents[d])
                foreach (int id in sentence)
                    if ((uint)id >= (uint)vocabSize)
                        throw new ArgumentException($"documents: id {id} in document {d} is outside the vocabulary of {vocabSize}", nameof(documents));
    }

    /// <inheritdoc/>
    public int DocumentCount => _documents.Length;
    /// <inheritdoc/>
    public int VocabSize { get; }
    /// <inheritdoc/>
    public IReadOnlyList<string> SplitNames { get; }
    /// <inheritdoc/>
    public int SentenceCount(int document) => _documents[document].Length;
    /// <inheritdoc/>
    public int SentenceLength(int document, int sentence) => _documents[document][sentence].Length;

    /// <inheritdoc/>
    public int CopySentence(int document, int sentence, Span<int> destination)
    {
        var s = _documents[document][sentence];
        s.CopyTo(destination);
        return s.Length;
    }

    /// <inheritdoc/>
    public DocumentInfo GetDocumentInfo(int document) => _info[document];
}
