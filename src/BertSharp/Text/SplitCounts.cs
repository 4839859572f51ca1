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
