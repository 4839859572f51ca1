namespace BertSharp.Onnx;

/// <summary>What <see cref="OnnxExporter"/> wrote.</summary>
/// <param name="Path">The .onnx file.</param>
/// <param name="Task">The task the graph computes (never <see cref="OnnxTask.Auto"/>).</param>
/// <param name="Inputs">The graph's input names (int64 [batch_size, sequence_length]).</param>
/// <param name="Outputs">The graph's output names, in order.</param>
/// <param name="Opset">The operator set the graph declares.</param>
/// <param name="Bytes">The file's size.</param>
public sealed record OnnxExportResult(string Path, OnnxTask Task, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, int Opset, long Bytes);
