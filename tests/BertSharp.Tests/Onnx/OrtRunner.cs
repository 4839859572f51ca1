using Microsoft.ML.OnnxRuntime;

namespace BertSharp.Tests.Onnx;

/// <summary>Runs an exported .onnx file in ONNX Runtime (the test-only reference) on int ids.</summary>
internal sealed class OrtRunner : IDisposable
{
    private readonly InferenceSession _session;

    public OrtRunner(string path, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL, string? optimizedPath = null, int threads = 1)
    {
        var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        if (optimizedPath is not null) options.OptimizedModelFilePath = optimizedPath;
        _session = new InferenceSession(path, options);
    }

    public IReadOnlyList<string> InputNames => _session.InputNames;
    public IReadOnlyList<string> OutputNames => _session.OutputNames;
    public InferenceSession Session => _session;

    /// <summary>Every output as a flat float array with its shape.</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(int batch, int seq, int[] ids, int[] types, int[] mask)
    {
        long[] shape = [batch, seq];
        using var i = OrtValue.CreateTensorValueFromMemory(ids.Select(x => (long)x).ToArray(), shape);
        using var t = OrtValue.CreateTensorValueFromMemory(types.Select(x => (long)x).ToArray(), shape);
        using var m = OrtValue.CreateTensorValueFromMemory(mask.Select(x => (long)x).ToArray(), shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = i, ["token_type_ids"] = t, ["attention_mask"] = m };
        using var run = new RunOptions();
        using var outputs = _session.Run(run, inputs, _session.OutputNames);
        var result = new Dictionary<string, (float[], long[])>();
        for (int k = 0; k < outputs.Count; k++)
        {
            var info = outputs[k].GetTensorTypeAndShape();
            result[_session.OutputNames[k]] = (outputs[k].GetTensorDataAsSpan<float>().ToArray(), info.Shape);
        }
        return result;
    }

    public void Dispose() => _session.Dispose();
}
