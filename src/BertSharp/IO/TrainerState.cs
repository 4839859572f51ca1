using System.Text.Json.Serialization;

namespace BertSharp.IO;

/// <summary>Everything besides the tensors that a run needs to continue exactly where it stopped.</summary>
public sealed class TrainerState
{
    /// <summary>Optimiser updates done.</summary>
    public long Step { get; set; }
    /// <summary>Epochs of the training data completed.</summary>
    public int Epoch { get; set; }
    /// <summary>Micro-batches consumed (the dropout counter and the data position derive from it).</summary>
    public long MicroStep { get; set; }
    /// <summary>The learning rate of the last update.</summary>
    public double LearningRate { get; set; }
    /// <summary>The schedule's kind (<c>linear</c>, <c>cosine</c>, <c>constant</c>).</summary>
    public string Schedule { get; set; } = "linear";
    /// <summary>The schedule's peak learning rate.</summary>
    public double PeakLearningRate { get; set; }
    /// <summary>The schedule's warmup updates.</summary>
    public int WarmupSteps { get; set; }
    /// <summary>The schedule's total updates.</summary>
    public int TotalSteps { get; set; }
    /// <summary>The run's seed (dropout masks and data order derive from it).</summary>
    public ulong Seed { get; set; }
    /// <summary>Named generator states (data order, masking, ...), each a SplitMix64 state.</summary>
    public Dictionary<string, ulong> RngStates { get; set; } = new();
    /// <summary>Where the data loader stands (items consumed in the current epoch), -1 when unknown.</summary>
    public long DataPosition { get; set; } = -1;
    /// <summary>Every evaluation so far, oldest first.</summary>
    public List<MetricRecord> History { get; set; } = new();
    /// <summary>The best-model criterion's name (e.g. <c>loss</c>, <c>label_accuracy</c>); null without tracking.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? BestMetric { get; set; }
    /// <summary>Step of the best evaluation so far.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? BestStep { get; set; }
    /// <summary>Its value of <see cref="BestMetric"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? BestValue { get; set; }
    /// <summary>The precision the latest steps were computed in (<c>fp32</c>, <c>tf32</c>, <c>bf16</c>); null in states
    /// written before precisions existed (fp32). Checkpoints are float32 in every precision, so a run may resume in
    /// another one.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Precision { get; set; }
    /// <summary>Evaluations since the best one (early stopping's counter).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int EvaluationsSinceBest { get; set; }
}
