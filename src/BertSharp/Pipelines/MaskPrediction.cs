namespace BertSharp.Pipelines;

/// <summary>The most likely tokens for one [MASK].</summary>
/// <param name="Position">The [MASK]'s index in the model input ([CLS] is 0).</param>
/// <param name="Predictions">The top-k tokens, most likely first.</param>
public sealed record MaskPrediction(int Position, IReadOnlyList<TokenPrediction> Predictions);
