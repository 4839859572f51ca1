using System.Text.Json.Serialization;

namespace BertSharp.IO;

/// <summary>One line of metrics.jsonl: a training step ("train") or an evaluation ("validation").</summary>
public sealed record MetricRow
{
    [JsonPropertyName("split")] public string Split { get; init; } = "train";
    [JsonPropertyName("step")] public long Step { get; init; }
    [JsonPropertyName("epoch")] public double Epoch { get; init; }
    [JsonPropertyName("lr")] public double LearningRate { get; init; }
    [JsonPropertyName("loss")] public double Loss { get; init; }
    [JsonPropertyName("mlm_loss")] public double MlmLoss { get; init; }
    [JsonPropertyName("nsp_loss")] public double NspLoss { get; init; }
    [JsonPropertyName("mlm_acc")] public double MlmAccuracy { get; init; }
    [JsonPropertyName("nsp_acc")] public double NspAccuracy { get; init; }
    [JsonPropertyName("grad_norm")] public double? GradNorm { get; init; }
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    [JsonPropertyName("elapsed_s")] public double Elapsed { get; init; }
}
