namespace BertSharp.Pipelines;

/// <summary>What <see cref="NextSentencePipeline.Run"/> found for one pair.</summary>
/// <param name="A">The first text.</param>
/// <param name="B">The second text.</param>
/// <param name="IsNextProbability">P(B is the segment that follows A) under the NSP head (label 0, IsNext).</param>
/// <param name="Truncated">The pair was cut to the model's maximum length.</param>
public sealed record NextSentenceResult(string A, string B, double IsNextProbability, bool Truncated);
