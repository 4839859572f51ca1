using BertSharp.Onnx.Proto;
using Google.Protobuf;

namespace BertSharp.Onnx;

/// <summary>An ONNX model built in memory by <see cref="OnnxExporter.Build"/>, before it is written.</summary>
/// <param name="Model">The protobuf message.</param>
/// <param name="Task">The task the graph computes.</param>
/// <param name="Outputs">Its output names.</param>
internal sealed record OnnxModel(ModelProto Model, OnnxTask Task, IReadOnlyList<string> Outputs)
{
    /// <summary>Writes the model to <paramref name="path"/> through a temporary file and a rename.</summary>
    public OnnxExportResult Save(string path, int opset)
    {
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Model.WriteTo(f);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw new BertSharpException($"{path}: cannot write the ONNX model ({e.Message})", ErrorKind.BadInput, e);
        }
        return Result(path, opset);
    }

    /// <summary>What was written to <paramref name="path"/>.</summary>
    public OnnxExportResult Result(string path, int opset) =>
        new(path, Task, [BertOnnxGraph.InputIds, BertOnnxGraph.AttentionMask, BertOnnxGraph.TokenTypeIds],
            Outputs, opset, new FileInfo(path).Length);
}
