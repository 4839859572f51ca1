using System.Text.Json.Serialization;

namespace BertSharp.IO;

/// <summary>One entry of the metric history kept in trainer_state.json (an evaluation; classification fills the
/// label figures, which pretraining leaves out).</summary>
public sealed record MetricRecord(long Step, string Split, double Loss, double MlmLoss, double NspLoss,
    double MlmAccuracy, double NspAccuracy, double LearningRate,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? LabelLoss = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? LabelAccuracy = null);
