namespace BertSharp.Text;

/// <summary>How <see cref="CorpusTokenizer"/> tokenizes: casing, WordPiece's word limit, threads.</summary>
public sealed record TokenizeOptions
{
    /// <summary>Lower-case and strip accents (uncased BERT).</summary>
    public bool LowerCase { get; init; } = true;
    /// <summary>Words longer than this (in chars) become [UNK], as BERT's WordPiece.</summary>
    public int MaxInputCharsPerWord { get; init; } = WordPieceTokenizer.DefaultMaxInputCharsPerWord;
    /// <summary>Worker threads; 0 means one per core.</summary>
    public int Threads { get; init; }
    /// <summary>Replace an existing output folder that is not already this store (another store, or other files).</summary>
    public bool Replace { get; init; }

    internal int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;
}
