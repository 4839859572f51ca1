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
