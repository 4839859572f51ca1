namespace BertSharp.Pipelines;

/// <summary>What <see cref="ClassificationPipeline.Run(IReadOnlyList{string}, CancellationToken)"/> found for one text.</summary>
/// <param name="Label">The most likely label; null for a text with no tokens (it is not run through the model).</param>
/// <param name="LabelId">The label's id (its index in <see cref="Probabilities"/>); -1 for a text with no tokens.</param>
/// <param name="Probability">The most likely label's probability.</param>
/// <param name="Probabilities">The probability of every label, by label id (empty for a text with no tokens).</param>
/// <param name="Tokens">The text's wordpieces before truncation.</param>
/// <param name="KeptTokens">The wordpieces the model saw (head and tail of a long text).</param>
public sealed record ClassificationResult(string? Label, int LabelId, double Probability, IReadOnlyList<double> Probabilities,
    int Tokens, int KeptTokens)
{
    /// <summary>The text was longer than the model's input and lost its middle.</summary>
    public bool Truncated => Tokens > KeptTokens;
}
