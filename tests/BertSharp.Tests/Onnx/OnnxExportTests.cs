using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Onnx;
using BertSharp.Onnx.Proto;
using BertSharp.Tensors;
using BertSharp.Tests.IO;
using BertSharp.Tests.Model;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace BertSharp.Tests.Onnx;

/// <summary>Issue 23, item 1: the ONNX export, run by ONNX Runtime, equals BertSharp's own outputs within 1e-4 relative
/// L2 for the three tasks, on padded batches of random ids, with dynamic batch and sequence axes.</summary>
public class OnnxExportTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public const double Tolerance = 1e-4;

    /// <summary>A padded batch: rows of <paramref name="lengths"/> real tokens ([CLS] … [SEP], random ids, a B segment
    /// in the longer rows), then [PAD] with attention_mask 0.</summary>
    internal static (int[] Ids, int[] Types, int[] Mask) PaddedBatch(int vocab, int seq, int[] lengths, ulong seed)
    {
        var rng = new SplitMix64(seed);
        int n = lengths.Length * seq;
        int[] ids = new int[n], types = new int[n], mask = new int[n];
        for (int b = 0; b < lengths.Length; b++)
            for (int t = 0; t < lengths[b]; t++)
            {
                int i = b * seq + t;
                ids[i] = t == 0 ? 2 : t == lengths[b] - 1 ? 3 : 5 + (int)(rng.NextUInt64() % (ulong)(vocab - 5));
                types[i] = lengths[b] > 4 && t > lengths[b] / 2 ? 1 : 0;
                mask[i] = 1;
            }
        return (ids, types, mask);
    }

    /// <summary>Exports <paramref name="p"/>, runs ORT and BertSharp on the batch and checks every output.</summary>
    internal static void AssertAgrees(ITestOutputHelper log, string onnx, BertParameters reference, IReadOnlyList<string> expectedOutputs,
        int seq, int[] lengths, ulong seed, int[]? ids = null, int[]? types = null, int[]? mask = null)
    {
        if (ids is null) (ids, types, mask) = PaddedBatch(reference.Config.VocabSize, seq, lengths, seed);
        int batch = lengths.Length;
        using var ort = new OrtRunner(onnx);
        var got = ort.Run(batch, seq, ids, types!, mask!);
        var want = BertSharpReference.Outputs(reference, batch, seq, ids, types!, mask!);
        Assert.Equal(expectedOutputs, ort.OutputNames);
        foreach (var name in expectedOutputs)
        {
            var (values, shape) = got[name];
            double rel = BertSharpReference.RelativeL2(values, want[name]);
            log.WriteLine($"{Path.GetFileName(onnx)} {name} [{string.Join(", ", shape)}]: relative L2 {rel:E2}");
            Assert.Equal(batch, shape[0]);
            if (name is "prediction_logits" or "last_hidden_state") Assert.Equal(seq, shape[1]);
            Assert.True(rel < Tolerance, $"{name}: relative L2 {rel:E3} ≥ {Tolerance}");
        }
    }

    [Theory]
    [InlineData(OnnxTask.PreTraining, false, new[] { "prediction_logits", "seq_relationship_logits", "last_hidden_state" })]
    [InlineData(OnnxTask.Auto, false, new[] { "prediction_logits", "seq_relationship_logits", "last_hidden_state" })]
    [InlineData(OnnxTask.TextClassification, true, new[] { "logits" })]
    [InlineData(OnnxTask.Auto, true, new[] { "logits" })]
    [InlineData(OnnxTask.FeatureExtraction, false, new[] { "last_hidden_state" })]
    [InlineData(OnnxTask.FeatureExtraction, true, new[] { "last_hidden_state" })]
    public void Ort_equals_BertSharp_on_padded_random_batches_of_two_shapes(OnnxTask task, bool classifier, string[] outputs)
    {
        var m = HfTestModel.Build(withClassifier: classifier);
        string path = Path.Combine(_dir, "model.onnx");
        var result = OnnxExporter.Write(m.Parameters, path, new OnnxExportOptions { Task = task });
        Assert.Equal(outputs, result.Outputs);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], result.Inputs);
        // One file, two shapes: the batch and sequence axes are dynamic.
        AssertAgrees(log, path, m.Parameters, outputs, seq: 9, lengths: [9, 5, 2], seed: 1);
        AssertAgrees(log, path, m.Parameters, outputs, seq: 20, lengths: [13], seed: 2);
        AssertAgrees(log, path, m.Parameters, outputs, seq: 32, lengths: [32, 32, 17, 3, 30], seed: 3);
    }

    [Fact]
    public void A_tanh_gelu_model_agrees_too()
    {
        var m = HfTestModel.Build();
        var config = m.Config.Clone();
        config.HiddenAct = "gelu_new";
        var p = new BertParameters(config);
        p.CopyFrom(m.Parameters.ToArray());
        string path = Path.Combine(_dir, "tanh.onnx");
        OnnxExporter.Write(p, path);
        AssertAgrees(log, path, p, ["prediction_logits", "seq_relationship_logits", "last_hidden_state"], seq: 10, lengths: [10, 4], seed: 4);
    }

    [Fact]
    public void F16_weights_halve_the_file_and_equal_the_model_with_rounded_weights()
    {
        var m = HfTestModel.Build(withClassifier: true);
        string f32 = Path.Combine(_dir, "f32.onnx"), f16 = Path.Combine(_dir, "f16.onnx");
        OnnxExporter.Write(m.Parameters, f32);
        OnnxExporter.Write(m.Parameters, f16, new OnnxExportOptions { Dtype = WeightsDtype.F16 });
        static long WeightBytes(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Initializer
            .Where(t => t.Dims.Count > 0 && t.DataType != (int)TensorProto.Types.DataType.Int64).Sum(t => (long)t.RawData.Length);
        long big = WeightBytes(f32), small = WeightBytes(f16);
        log.WriteLine($"weights: f32 {big} bytes, f16 {small} bytes");
        // A classifier export holds the trunk and the classifier, not the pretraining heads (cls.*).
        long exported = m.Parameters.Layout.Entries.Where(e => !e.Name.StartsWith("cls.", StringComparison.Ordinal)).Sum(e => (long)e.Length);
        Assert.Equal(4 * exported, big);
        Assert.Equal(2 * exported, small);
        // The reference: the same model with every weight rounded to float16 (what the f16 safetensors holds).
        var rounded = new BertParameters(m.Config, m.Labels);
        rounded.CopyFrom(m.Parameters.ToArray().Select(x => (float)(Half)x).ToArray());
        AssertAgrees(log, f16, rounded, ["logits"], seq: 12, lengths: [12, 6, 3], seed: 5);
        // ... and not the unrounded one: the check can tell the two apart.
        var (ids, types, mask) = PaddedBatch(40, 12, [12, 6, 3], 5);
        using var ort = new OrtRunner(f16);
        double rel = BertSharpReference.RelativeL2(ort.Run(3, 12, ids, types, mask)["logits"].Values,
            BertSharpReference.Outputs(m.Parameters, 3, 12, ids, types, mask)["logits"]);
        log.WriteLine($"f16 export vs unrounded weights: {rel:E2}");
        Assert.True(rel > 1e-5);
    }

    [Fact]
    public void The_graph_is_opset_17_standard_ops_with_hf_input_names_and_dynamic_axes()
    {
        var m = HfTestModel.Build();
        string path = Path.Combine(_dir, "model.onnx");
        OnnxExporter.Write(m.Parameters, path);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal(8, model.IrVersion);
        Assert.Equal(17, Assert.Single(model.OpsetImport, o => o.Domain == "").Version);
        Assert.All(model.Graph.Node, n => Assert.Equal("", n.Domain));
        var ops = model.Graph.Node.Select(n => n.OpType).ToHashSet();
        Assert.Subset(new HashSet<string> { "Gather", "Shape", "Slice", "Add", "Sub", "Mul", "Div", "LayerNormalization", "Unsqueeze", "Cast",
            "MatMul", "Reshape", "Transpose", "Softmax", "Erf", "Tanh", "Identity" }, ops);
        Assert.Contains("LayerNormalization", ops);
        Assert.Contains("Erf", ops);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], model.Graph.Input.Select(i => i.Name));
        foreach (var input in model.Graph.Input)
        {
            Assert.Equal((int)TensorProto.Types.DataType.Int64, input.Type.TensorType.ElemType);
            Assert.Equal(["batch_size", "sequence_length"], input.Type.TensorType.Shape.Dim.Select(d => d.DimParam));
        }
        // ONNX Runtime's own checker accepts it with every optimisation off, too.
        using var plain = new OrtRunner(path, GraphOptimizationLevel.ORT_DISABLE_ALL);
        Assert.Equal(3, plain.OutputNames.Count);
    }

    [Fact]
    public void Ort_fuses_the_graph_into_its_bert_kernels()
    {
        var m = HfTestModel.Build();
        string path = Path.Combine(_dir, "model.onnx"), optimized = Path.Combine(_dir, "optimized.onnx");
        OnnxExporter.Write(m.Parameters, path, new OnnxExportOptions { Task = OnnxTask.FeatureExtraction });
        using (new OrtRunner(path, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, optimized)) { }
        var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized)).Graph.Node
            .GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        log.WriteLine(string.Join(", ", ops.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}")));
        // Built into the runtime at load time: the erf pattern + its bias become BiasGelu, QKᵀ/√d one FusedMatMul, and
        // LayerNormalization stays one kernel. (SkipLayerNormalization and Attention need a fixed sequence length in the
        // runtime's own fusions; onnxruntime.transformers.optimizer applies them to dynamic axes offline.)
        Assert.Equal(m.Config.NumHiddenLayers, ops.GetValueOrDefault("BiasGelu"));
        Assert.Equal(m.Config.NumHiddenLayers, ops.GetValueOrDefault("FusedMatMul"));
        Assert.Equal(2 * m.Config.NumHiddenLayers + 1, ops.GetValueOrDefault("LayerNormalization"));
        Assert.False(ops.ContainsKey("Erf"));
        Assert.False(ops.ContainsKey("Div"));
    }

    [Fact]
    public void Bad_options_are_one_line_usage_errors_and_nothing_is_written()
    {
        var m = HfTestModel.Build();
        string path = Path.Combine(_dir, "x.onnx");
        var e = Assert.Throws<BertSharpException>(() => OnnxExporter.Write(m.Parameters, path, new OnnxExportOptions { Task = OnnxTask.TextClassification }));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("no classifier head", e.Message);
        e = Assert.Throws<BertSharpException>(() => OnnxExporter.Write(m.Parameters, path, new OnnxExportOptions { Dtype = WeightsDtype.BF16 }));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        e = Assert.Throws<BertSharpException>(() => OnnxExporter.Write(m.Parameters, path, new OnnxExportOptions { Opset = 16 }));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        // A weight float16 cannot hold: refused, as the safetensors export refuses it.
        var big = new BertParameters(m.Config);
        var values = m.Parameters.ToArray();
        values[big.Layout["bert.pooler.dense.bias"].Offset] = 1e6f;
        big.CopyFrom(values);
        e = Assert.Throws<BertSharpException>(() => OnnxExporter.Write(big, path, new OnnxExportOptions { Dtype = WeightsDtype.F16 }));
        Assert.Contains("bert.pooler.dense.bias", e.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
