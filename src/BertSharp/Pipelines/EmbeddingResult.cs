namespace BertSharp.Pipelines;

/// <summary>One text's vector from <see cref="EmbeddingPipeline"/>.</summary>
/// <param name="Vector">hidden_size floats; null for a text with no tokens (it is not run through the model).</param>
/// <param name="Tokens">The text's wordpieces before truncation.</param>
/// <param name="KeptTokens">The wordpieces the model saw (head and tail of a long text).</param>
public sealed record EmbeddingResult(float[]? Vector, int Tokens, int KeptTokens)
{
    /// <summary>The text was longer than the model's input and lost its middle.</summary>
    public bool Truncated => Tokens > KeptTokens;
}
