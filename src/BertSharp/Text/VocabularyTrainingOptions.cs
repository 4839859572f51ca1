namespace BertSharp.Text;

/// <summary>How <see cref="WordPieceTrainer"/> builds a vocabulary.</summary>
public sealed record VocabularyTrainingOptions
{
    /// <summary>Tokens in the vocabulary, special tokens included (fewer when the corpus has too few).</summary>
    public int VocabSize { get; init; } = 30522;
    /// <summary>A merge (or, word-level, a word) needs at least this many occurrences.</summary>
    public int MinFrequency { get; init; } = 2;
    /// <summary>Keep at most this many distinct characters (the most frequent; ties by code point).</summary>
    public int LimitAlphabet { get; init; } = 1000;
    /// <summary>Lower-case and strip accents before counting (uncased vocabulary).</summary>
    public bool LowerCase { get; init; } = true;
    /// <summary>Keep whole words instead of WordPiece merges.</summary>
    public bool WordLevel { get; init; }
    /// <summary>Threads for counting words; 0 means one per core. The result never depends on it.</summary>
    public int Threads { get; init; }

    /// <summary>The settings no vocabulary can be trained with, each as the property and what is wrong with it (a caller
    /// that took them from its own options names those instead); none when all are usable.</summary>
    public IEnumerable<(string Property, string Problem)> Problems()
    {
        int specials = Vocabulary.DefaultSpecialTokens.Count;
        if (VocabSize <= specials) yield return (nameof(VocabSize), $"{VocabSize} leaves no room after the {specials} special tokens");
        if (MinFrequency < 1) yield return (nameof(MinFrequency), "must be at least 1");
        if (LimitAlphabet < 1) yield return (nameof(LimitAlphabet), "must be at least 1");
    }

    /// <summary>Throws a <see cref="ErrorKind.Usage"/> error for the first of <see cref="Problems"/>, naming the property.</summary>
    public void Validate()
    {
        foreach (var (property, problem) in Problems()) throw new BertSharpException($"{property}: {problem}", ErrorKind.Usage) { Properties = [property] };
    }
}
