using System.Reflection;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Onnx.Proto;
using Google.Protobuf;

namespace BertSharp.Onnx;

/// <summary>
/// Writes a model as an ONNX graph that ONNX Runtime (and ML.NET, Transformers.js, Optimum) runs:
/// <code>OnnxExporter.Export(PretrainedModel.Load("runs/sample").ToModelFolder(), "out/sample");   // HF folder + onnx/model.onnx
/// OnnxExporter.Write(model.Parameters, "bert.onnx", new OnnxExportOptions { Task = OnnxTask.FeatureExtraction });</code>
/// Inputs as HF's exporters name them — <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>, int64
/// [batch_size, sequence_length], both axes dynamic — and standard ops of opset 17 (see <see cref="BertOnnxGraph"/>).
/// The protobuf is written by Google.Protobuf from ONNX's own schema (Onnx/Proto/onnx.proto).
/// </summary>
public static class OnnxExporter
{
    /// <summary>The folder beside the HF files that holds the graph (Optimum's and Transformers.js' layout).</summary>
    public const string Folder = "onnx";
    /// <summary>The graph's file name with float32 weights, and with float16 weights (Transformers.js' names).</summary>
    public const string FileName = "model.onnx", Fp16FileName = "model_fp16.onnx";

    /// <summary>The task <paramref name="requested"/> means for <paramref name="parameters"/>: Auto becomes the model's own head;
    /// text-classification for a model without a classifier head is a <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>).</summary>
    public static OnnxTask ResolveTask(BertParameters parameters, OnnxTask requested)
    {
        bool classifier = parameters.Layout.NumLabels > 0;
        if (requested == OnnxTask.Auto) return classifier ? OnnxTask.TextClassification : OnnxTask.PreTraining;
        if (requested == OnnxTask.TextClassification && !classifier)
            throw new BertSharpException($"{nameof(OnnxExportOptions.Task)} text-classification: the model has no classifier head (fine-tune it first, or export pretraining or feature-extraction)",
                ErrorKind.Usage) { Properties = [nameof(OnnxExportOptions.Task)] };
        return requested;
    }

    /// <summary>Checks the options a model can be exported with: bfloat16 is refused (ONNX Runtime's CPU provider has
    /// no bfloat16 MatMul, Gather or LayerNormalization kernels, so such a file would not run where most users run it)
    /// and the opset must be 17 (LayerNormalization's first) to 21.</summary>
    public static void Validate(OnnxExportOptions options)
    {
        if (options.Dtype == WeightsDtype.BF16)
            throw new BertSharpException($"{nameof(OnnxExportOptions.Dtype)} bf16: not available in an ONNX export (ONNX Runtime's CPU kernels for MatMul and LayerNormalization have no bfloat16; use f32 or f16)",
                ErrorKind.Usage) { Properties = [nameof(OnnxExportOptions.Dtype)] };
        if (options.Opset is < 17 or > 21)
            throw new BertSharpException($"opset {options.Opset}: the export needs opset 17 (LayerNormalization) to 21", ErrorKind.Usage);
    }

    /// <summary>The ONNX model of <paramref name="parameters"/> (read, not changed), in memory.</summary>
    internal static OnnxModel Build(BertParameters parameters, OnnxExportOptions? options = null)
    {
        options ??= new OnnxExportOptions();
        Validate(options);
        var task = ResolveTask(parameters, options.Task);
        var (graph, outputs) = BertOnnxGraph.Build(parameters, task, options.Dtype);
        var model = new ModelProto
        {
            // The IR version of the opset's ONNX release (1.12 → opset 17, IR 8; ... 1.16 → opset 21, IR 10).
            IrVersion = options.Opset switch { 17 or 18 => 8, 19 or 20 => 9, _ => 10 },
            ProducerName = "BertSharp",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            DocString = $"BERT ({task.Name()}) exported by BertSharp",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "task", Value = task.Name() });
        if (parameters.Labels is { } labels)
            model.MetadataProps.Add(new StringStringEntryProto { Key = "id2label", Value = string.Join(",", labels) });
        return new OnnxModel(model, task, outputs);
    }

    /// <summary>Writes the ONNX model to <paramref name="path"/> (a temporary file beside it, then a rename).</summary>
    public static OnnxExportResult Write(BertParameters parameters, string path, OnnxExportOptions? options = null)
    {
        var built = Build(parameters, options);
        return built.Save(path, options?.Opset ?? 17);
    }

    /// <summary>Writes the HF folder of <paramref name="model"/> (<see cref="ModelFolder.Save"/>: config, weights, vocabulary,
    /// tokenizer files) with the graph in <c>onnx/model.onnx</c> (<c>onnx/model_fp16.onnx</c> for float16 weights), all
    /// renamed into place together. The graph is built first, so a model that cannot be exported leaves nothing behind.</summary>
    public static OnnxExportResult Export(ModelFolder model, string folder, OnnxExportOptions? options = null, bool overwrite = false)
    {
        options ??= new OnnxExportOptions();
        var built = Build(model.Parameters, options);
        string file = options.Dtype == WeightsDtype.F16 ? Fp16FileName : FileName;
        OnnxExportResult? result = null;
        model.WriteExtraFiles = tmp =>
        {
            Directory.CreateDirectory(Path.Combine(tmp, Folder));
            // Inside the temporary folder: an I/O error goes to Save, which removes the folder and names it.
            string path = Path.Combine(tmp, Folder, file);
            using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                built.Model.WriteTo(f);
            result = built.Result(path, options.Opset);
        };
        try { model.Save(folder, overwrite); }
        finally { model.WriteExtraFiles = null; }
        string final = Path.Combine(folder, Folder, file);
        return result! with { Path = final };
    }
}
