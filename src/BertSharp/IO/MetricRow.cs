using System.Text.Json.Serialization;

namespace BertSharp.IO;

/// <summary>One line of metrics.jsonl: a training step ("train") or an evaluation ("validation").</summary>
public sealed record MetricRow
{
    /// <c>train</c> for a step, <c>validation</c> for an evaluation.
    [JsonPropertyName("split")] public string Split { get; init; } = "train";
    /// <summary>Optimiser updates done.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }
    /// <summary>Epochs of training data consumed (fractional).</summary>
    [JsonPropertyName("epoch")] public double Epoch { get; init; }
    /// <summary>Learning rate of the step.</summary>
    [JsonPropertyName("lr")] public double LearningRate { get; init; }
    /// <summary>The optimised loss (MLM + NSP for pretraining).</summary>
    [JsonPropertyName("loss")] public double Loss { get; init; }
    /// <summary>Mean MLM cross-entropy per masked token.</summary>
    [JsonPropertyName("mlm_loss")] public double MlmLoss { get; init; }
    /// <summary>Mean NSP cross-entropy per pair.</summary>
    [JsonPropertyName("nsp_loss")] public double NspLoss { get; init; }
    /// <summary>Fraction of masked tokens predicted right.</summary>
    [JsonPropertyName("mlm_acc")] public double MlmAccuracy { get; init; }
    /// <summary>Fraction of NSP pairs predicted right.</summary>
    [JsonPropertyName("nsp_acc")] public double NspAccuracy { get; init; }
    /// <summary>Global gradient norm before clipping (training rows only).</summary>
    [JsonPropertyName("grad_norm")] public double? GradNorm { get; init; }
    /// <summary>Training throughput in token cells (rows × padded length) per second (training rows only).</summary>
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    /// <summary>Pretraining distillation: mean soft-target loss T²·KL(teacher ‖ student) per masked token (absent without a teacher).</summary>
    [JsonPropertyName("soft_loss")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SoftLoss { get; init; }
    /// <summary>Pretraining distillation: mean cosine loss 1 − cos(student, teacher) of the last hidden states per real token
    /// (absent without a teacher, or one of another width).</summary>
    [JsonPropertyName("cos_loss")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? CosLoss { get; init; }
    /// <summary>Wall-clock seconds since the run started, resumed sessions included.</summary>
    [JsonPropertyName("elapsed_s")] public double Elapsed { get; init; }
}
