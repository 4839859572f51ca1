namespace BertSharp.Text;

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
