using System.Text.Json.Serialization;
using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// run.json's record of a pretraining run's teacher (pretraining distillation): which model, by its checkpoint folder and a
/// hash of its weights (so a resumed run is taught by the same weights, not merely the same path), and the weights of the
/// objective. Absent from run.json without a teacher.
/// </summary>
public sealed class TeacherSettings
{
    /// <summary>The teacher's checkpoint folder, as loaded (a run folder given resolves to its newest checkpoint).</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    /// <summary>SHA-256 of the teacher's float32 weights (<see cref="BertParameters.Sha256"/>).</summary>
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
    /// <summary>T of the soft-target term.</summary>
    [JsonPropertyName("temperature")] public float Temperature { get; set; }
    /// <summary>Weight of the soft-target MLM term.</summary>
    [JsonPropertyName("alpha_soft")] public float AlphaSoft { get; set; }
    /// <summary>Weight of the MLM term on the true tokens.</summary>
    [JsonPropertyName("alpha_mlm")] public float AlphaMlm { get; set; }
    /// <summary>Weight of the NSP term on the true labels.</summary>
    [JsonPropertyName("alpha_nsp")] public float AlphaNsp { get; set; }
    /// <summary>Weight of the cosine term between the last hidden states (applies only when the widths match).</summary>
    [JsonPropertyName("alpha_cos")] public float AlphaCos { get; set; }

    /// <summary>The objective these settings describe.</summary>
    [JsonIgnore] public PretrainingDistillation Loss => new(Temperature, AlphaSoft, AlphaMlm, AlphaNsp, AlphaCos);
}
