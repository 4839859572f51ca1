namespace BertSharp.Onnx;

/// <summary>Names of <see cref="OnnxTask"/> (<see cref="OnnxExportOptions.Task"/>) in text.</summary>
public static class OnnxTasks
{
    /// <summary>The names <see cref="Parse"/> accepts.</summary>
    public const string Names = "auto, pretraining, text-classification, feature-extraction";

    /// <summary>Reads <c>auto</c>, <c>pretraining</c>, <c>text-classification</c> or <c>feature-extraction</c>; anything
    /// else is a <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>) naming <paramref name="what"/> (in
    /// <see cref="BertSharpException.Properties"/>).</summary>
    public static OnnxTask Parse(string? text, string what = nameof(OnnxExportOptions.Task)) => (text ?? "").Trim().ToLowerInvariant() switch
    {
        "auto" => OnnxTask.Auto,
        "pretraining" or "pre-training" => OnnxTask.PreTraining,
        "text-classification" or "classification" => OnnxTask.TextClassification,
        "feature-extraction" => OnnxTask.FeatureExtraction,
        _ => throw new BertSharpException($"{what} '{text}': expected {Names}", ErrorKind.Usage) { Properties = [what] },
    };

    /// <summary>The command-line name of <paramref name="task"/>.</summary>
    public static string Name(this OnnxTask task) => task switch
    {
        OnnxTask.Auto => "auto",
        OnnxTask.PreTraining => "pretraining",
        OnnxTask.TextClassification => "text-classification",
        OnnxTask.FeatureExtraction => "feature-extraction",
        _ => throw new ArgumentOutOfRangeException(nameof(task)),
    };
}
