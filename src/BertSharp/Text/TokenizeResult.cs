namespace BertSharp.Text;

/// <summary>What <see cref="CorpusTokenizer.Build"/> produced.</summary>
/// <param name="manifest">the store's manifest</param>
/// <param name="reused">true when the existing store was kept</param>
/// <param name="stats">the reader's statistics (null when reused)</param>
public sealed class TokenizeResult(TokenizedCorpusManifest manifest, bool reused, CorpusReadStats? stats)
{
    /// <summary>The manifest of the store (built now or kept).</summary>
    public TokenizedCorpusManifest Manifest { get; } = manifest;
    /// <summary>True when an existing store with the same build key was kept as it was.</summary>
    public bool Reused { get; } = reused;
    /// <summary>What the reader reported (null when reused).</summary>
    public CorpusReadStats? ReadStats { get; } = stats;
}
