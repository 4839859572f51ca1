namespace BertSharp.Pipelines;

/// <summary>What <see cref="FillMaskPipeline.Run"/> found for one text.</summary>
/// <param name="Text">The text as given.</param>
/// <param name="Masks">One entry per [MASK], in text order.</param>
/// <param name="Truncated">The text was cut to the model's maximum length.</param>
public sealed record FillMaskResult(string Text, IReadOnlyList<MaskPrediction> Masks, bool Truncated);

/// <summary>The most likely tokens for one [MASK].</summary>
/// <param name="Position">The [MASK]'s index in the model input ([CLS] is 0).</param>
/// <param name="Predictions">The top-k tokens, most likely first.</param>
public sealed record MaskPrediction(int Position, IReadOnlyList<TokenPrediction> Predictions);

/// <summary>One candidate token and its probability under the MLM head's softmax.</summary>
public sealed record TokenPrediction(string Token, int Id, double Probability);
