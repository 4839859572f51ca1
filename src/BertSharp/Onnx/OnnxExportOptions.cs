using BertSharp.IO;

namespace BertSharp.Onnx;

/// <summary>What <see cref="OnnxExporter"/> writes.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The outputs (default: the model's own head).</summary>
    public OnnxTask Task { get; init; } = OnnxTask.Auto;
    /// <summary>The weights' type in the file: <see cref="WeightsDtype.F32"/> (exact) or <see cref="WeightsDtype.F16"/>
    /// (half the size; each weight is cast to float32 inside the graph, so inputs, outputs and arithmetic stay float32
    /// and every ONNX Runtime execution provider runs it). <see cref="WeightsDtype.BF16"/> is refused.</summary>
    public WeightsDtype Dtype { get; init; } = WeightsDtype.F32;
    /// <summary>The ONNX operator set the graph declares: 17 (LayerNormalization's first opset) or later.</summary>
    public int Opset { get; init; } = 17;
}
