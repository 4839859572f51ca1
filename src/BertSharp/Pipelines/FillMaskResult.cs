namespace BertSharp.Pipelines;

/// <summary>What <see cref="FillMaskPipeline.Run"/> found for one text.</summary>
/// <param name="Text">The text as given.</param>
/// <param name="Masks">One entry per [MASK], in text order.</param>
/// <param name="Truncated">The text was cut to the model's maximum length.</param>
public sealed record FillMaskResult(string Text, IReadOnlyList<MaskPrediction> Masks, bool Truncated);
