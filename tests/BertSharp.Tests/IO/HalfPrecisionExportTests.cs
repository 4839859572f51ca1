using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using BertSharp.Cli;
using BertSharp.Tests.Cli;
using BertSharp.IO;
using BertSharp.Tensors;
using BertSharp.Tests.Model;
using Xunit.Abstractions;

namespace BertSharp.Tests.IO;

/// <summary>Issue 20, item 4: <c>ModelFolder.WeightsDtype</c> / <c>export --dtype f32|bf16|f16</c> writes HF-compatible
/// half-precision safetensors (round to nearest even), and the loader widens them back exactly.</summary>
public class HalfPrecisionExportTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>What a weight becomes in <paramref name="dtype"/>, widened back to float32.</summary>
    private static float Rounded(float x, WeightsDtype dtype) => dtype switch
    {
        WeightsDtype.BF16 => BFloat16.ToSingle(BFloat16.FromSingle(x)),
        WeightsDtype.F16 => (float)(Half)x,
        _ => x,
    };

    [Theory]
    [InlineData(WeightsDtype.F32, "F32", "float32")]
    [InlineData(WeightsDtype.BF16, "BF16", "bfloat16")]
    [InlineData(WeightsDtype.F16, "F16", "float16")]
    public void Export_writes_the_dtype_hf_names_and_the_loader_reads_the_rounded_weights_exactly(WeightsDtype dtype, string header, string torch)
    {
        var m = HfTestModel.Build(withClassifier: dtype == WeightsDtype.F16);
        m.WeightsDtype = dtype;
        string folder = Path.Combine(_dir, "hf");
        m.Save(folder);

        // Header dtype strings, byte ranges and the file size: 2 bytes a weight in half precision.
        string weights = Path.Combine(folder, ModelFolder.WeightsFile);
        long dataBytes = 0;
        using (var r = new SafeTensorsReader(weights))
        {
            Assert.Equal("pt", r.Metadata["format"]);
            Assert.Equal(m.Parameters.Layout.Entries.Count, r.Tensors.Count);
            foreach (var e in m.Parameters.Layout.Entries)
            {
                var t = r.Get(e.Name);
                Assert.Equal(header, t.Dtype);
                Assert.Equal(e.Shape.Select(s => (long)s), t.Shape);
                Assert.Equal(e.Length * (long)dtype.Size(), t.End - t.Begin);
                dataBytes += t.End - t.Begin;
            }
        }
        Assert.Equal(m.Parameters.Layout.ParameterCount * (long)dtype.Size(), dataBytes);
        byte[] file = File.ReadAllBytes(weights);
        Assert.Equal(8 + (long)BitConverter.ToUInt64(file, 0) + dataBytes, file.Length);
        Assert.Contains($"\"dtype\":\"{header}\"", System.Text.Encoding.UTF8.GetString(file, 8, (int)BitConverter.ToUInt64(file, 0)));

        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, ModelFolder.ConfigFile))).RootElement;
        Assert.Equal(torch, config.GetProperty("torch_dtype").GetString());

        // Read back: every weight is its rounded original, bit for bit.
        var original = m.Parameters.Values.ToArray();
        var loaded = ModelFolder.Load(folder);
        var values = loaded.Parameters.Values.ToArray();
        Assert.Equal(original.Length, values.Length);
        int changed = 0;
        for (int i = 0; i < original.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(Rounded(original[i], dtype)), BitConverter.SingleToInt32Bits(values[i]));
            if (values[i] != original[i]) changed++;
        }
        log.WriteLine($"{dtype}: {changed} of {original.Length} weights changed by rounding; file {file.Length} bytes");
        if (dtype == WeightsDtype.F32) { Assert.Equal(0, changed); Assert.Empty(loaded.Notes); }
        else { Assert.True(changed > original.Length / 2); Assert.Contains(loaded.Notes, n => n.Contains("widened")); }
        Assert.Equal(WeightsDtype.F32, loaded.WeightsDtype); // loaded models are float32; the dtype is chosen per export

        // Exported again in the same dtype, the rounded weights round to themselves: the same file.
        loaded.WeightsDtype = dtype;
        loaded.Save(Path.Combine(_dir, "again"));
        Assert.Equal(file, File.ReadAllBytes(Path.Combine(_dir, "again", ModelFolder.WeightsFile)));
        Assert.Equal(File.ReadAllText(Path.Combine(folder, ModelFolder.ConfigFile)), File.ReadAllText(Path.Combine(_dir, "again", ModelFolder.ConfigFile)));
    }

    [Fact]
    public void Narrow_rounds_to_nearest_even_keeps_nan_and_refuses_what_would_become_infinite()
    {
        float bfTieDown = 1f + MathF.Pow(2, -8), bfTieUp = 1f + 3 * MathF.Pow(2, -8), bfAbove = 1f + MathF.Pow(2, -8) + MathF.Pow(2, -20);
        var bf = WeightsDtypes.Narrow([bfTieDown, bfTieUp, bfAbove, -2.5f, float.NaN, float.PositiveInfinity, 0f, -0f], WeightsDtype.BF16, "t", "here");
        Assert.Equal(new ushort[] { 0x3f80, 0x3f82, 0x3f81, 0xc020 }, bf[..4]);
        Assert.True(float.IsNaN(BFloat16.ToSingle(bf[4])));
        Assert.Equal(new ushort[] { 0x7f80, 0x0000, 0x8000 }, bf[5..]);

        float hTieDown = 1f + MathF.Pow(2, -11), hTieUp = 1f + 3 * MathF.Pow(2, -11);
        var h = WeightsDtypes.Narrow([hTieDown, hTieUp, 65504f, 65519.996f, -65519.996f, float.NaN, 1e-8f], WeightsDtype.F16, "t", "here");
        Assert.Equal(new ushort[] { 0x3c00, 0x3c02, 0x7bff, 0x7bff, 0xfbff }, h[..5]);
        Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(h[5])));
        Assert.Equal((float)(Half)1e-8f, (float)BitConverter.UInt16BitsToHalf(h[6])); // underflows to a subnormal, as PyTorch does

        foreach (var (v, dtype) in new[] { (65520f, WeightsDtype.F16), (-70000f, WeightsDtype.F16), (float.MaxValue, WeightsDtype.BF16) })
        {
            var e = Assert.Throws<BertSharpException>(() => WeightsDtypes.Narrow([0f, 1f, v], dtype, "bert.pooler.dense.weight", "out/hf"));
            Assert.Equal(ErrorKind.Conflict, e.Kind);
            Assert.Contains("ModelFolder.WeightsDtype", e.Message);
            Assert.Contains("'bert.pooler.dense.weight'", e.Message);
            Assert.Contains("element 2", e.Message);
            Assert.StartsWith("out/hf: ", e.Message);
        }
    }

    [Fact]
    public void F16_export_of_a_weight_beyond_65504_is_refused_naming_the_tensor_and_writes_nothing()
    {
        var m = HfTestModel.Build();
        m.Parameters.Value("bert.encoder.layer.1.output.dense.weight").AsSpan()[5] = 70000f;
        m.WeightsDtype = WeightsDtype.F16;
        string folder = Path.Combine(_dir, "hf16");
        var e = Assert.Throws<BertSharpException>(() => m.Save(folder));
        log.WriteLine(e.Message);
        Assert.Contains("'bert.encoder.layer.1.output.dense.weight'", e.Message);
        Assert.Contains("70000", e.Message);
        Assert.Contains("65504", e.Message);
        Assert.Contains("ModelFolder.WeightsDtype is F16", e.Message);
        Assert.DoesNotContain("--dtype", e.Message); // the library names its property, not a flag
        Assert.False(Directory.Exists(folder));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));

        // The same model in bfloat16 (float32's range) is written, and 70000 rounds to 70144.
        m.WeightsDtype = WeightsDtype.BF16;
        m.Save(folder);
        Assert.Equal(70144f, ModelFolder.Load(folder).Parameters.Value("bert.encoder.layer.1.output.dense.weight").AsSpan()[5]);

        // On the command line: exit code 5 (the option contradicts the model), one line, nothing written.
        string f32 = Path.Combine(_dir, "f32"), out16 = Path.Combine(_dir, "out16");
        m.WeightsDtype = WeightsDtype.F32;
        m.Save(f32);
        var r = CliTestSupport.Run(["export", f32, "--out", out16, "--dtype", "f16"]);
        Assert.Equal(CliRunner.ExitConflict, r.Code);
        Assert.Contains("'bert.encoder.layer.1.output.dense.weight'", r.Err);
        Assert.False(Directory.Exists(out16));
    }

    [Fact]
    public void Export_dtype_on_the_command_line_and_every_command_reads_the_half_precision_folder()
    {
        string model = Path.Combine(_dir, "model");
        var built = HfTestModel.Build();
        built.Save(model);
        var original = built.Parameters.Values.ToArray();

        // A bad value: usage error (exit 2) naming --dtype, nothing written.
        var bad = CliTestSupport.Run(["export", model, "--out", Path.Combine(_dir, "bad"), "--dtype", "f64"]);
        Assert.Equal(CliRunner.ExitUsage, bad.Code);
        Assert.Contains("--dtype", bad.Err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));

        foreach (var (flag, header, torch) in new[] { ("bf16", "BF16", "bfloat16"), ("f16", "F16", "float16"), ("f32", "F32", "float32") })
        {
            string hf = Path.Combine(_dir, "hf-" + flag);
            var r = CliTestSupport.Run(["export", model, "--out", hf, "--dtype", flag, "--json"]);
            Assert.True(r.Code == 0, r.Err);
            Assert.Equal(torch, JsonDocument.Parse(r.Out).RootElement.GetProperty("dtype").GetString());
            using (var st = new SafeTensorsReader(Path.Combine(hf, ModelFolder.WeightsFile)))
                Assert.All(st.Tensors.Values, t => Assert.Equal(header, t.Dtype));

            // The loader widens it: info, fill-mask and import work on the exported folder.
            var dtype = WeightsDtypes.Parse(flag);
            var loaded = PretrainedModel.Load(hf).Parameters.Values.ToArray();
            for (int i = 0; i < original.Length; i++) Assert.Equal(Rounded(original[i], dtype), loaded[i]);
            string ids = Path.Combine(_dir, "ids.json");
            File.WriteAllText(ids, "{\"input_ids\": [[2, 9, 4, 3]]}");
            foreach (var args in new[] { new[] { "info", hf }, ["fill-mask", hf, "w7 [MASK] w9 ."], ["logits", hf, ids] })
            {
                var c = CliTestSupport.Run(args);
                Assert.True(c.Code == 0, $"{string.Join(' ', args)}: exit {c.Code}: {c.Err}");
            }
            string imported = Path.Combine(_dir, "imported-" + flag);
            var imp = CliTestSupport.Run(["import", hf, "--out", imported]);
            Assert.True(imp.Code == 0, imp.Err);
            using (var st = new SafeTensorsReader(Path.Combine(imported, ModelFolder.WeightsFile)))
                Assert.All(st.Tensors.Values, t => Assert.Equal("F32", t.Dtype)); // import writes float32 (our checkpoint format)
            Assert.Equal(loaded, Checkpoint.LoadParameters(imported).Values.ToArray());
        }

        // Half-precision weights are no training checkpoint: the checkpoint reader says where they are read instead.
        var ck = Assert.ThrowsAny<Exception>(() => Checkpoint.LoadParameters(Path.Combine(_dir, "hf-bf16")));
        Assert.Contains("ModelFolder.Load", ck.Message);
    }

    /// <summary>PyTorch itself decodes the half-precision tensors (torch.frombuffer for BF16) to exactly our rounded
    /// values, the config's torch_dtype names them, and the reference model computes our logits from them.</summary>
    [RequiresTorchFact]
    public void Pytorch_reads_the_bf16_and_f16_tensors_equal_to_ours()
    {
        string inputs = Path.Combine(_dir, "inputs.json");
        File.WriteAllText(inputs, HfTestModel.InputsJson());
        foreach (var dtype in new[] { WeightsDtype.BF16, WeightsDtype.F16 })
        {
            var m = HfTestModel.Build();
            m.WeightsDtype = dtype;
            string folder = Path.Combine(_dir, "hf-" + dtype), output = Path.Combine(_dir, $"torch-{dtype}.json");
            m.Save(folder);
            int rc = TorchPython.Run([TorchPython.Tool("load_export.py"), folder, "--inputs", inputs, "--out", output], out string text);
            log.WriteLine(text);
            Assert.True(rc == 0, $"load_export.py failed ({rc}): {text}");
            var live = JsonDocument.Parse(File.ReadAllText(output)).RootElement;

            var loaded = ModelFolder.Load(folder).Parameters;
            var values = loaded.Values.ToArray();
            var digests = live.GetProperty("tensor_sha256");
            foreach (var e in loaded.Layout.Entries)
            {
                Assert.Equal(dtype.SafeTensorsName(), live.GetProperty("dtypes").GetProperty(e.Name).GetString());
                var ours = Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(values.AsSpan(e.Offset, e.Length))));
                Assert.True(ours == digests.GetProperty(e.Name).GetString(), $"{dtype} {e.Name}: PyTorch decodes other values");
            }

            // The same weights in both: the logits agree to float32 rounding, as for the float32 export.
            var (mlm, nsp) = HfTestModel.OurLogits(loaded);
            foreach (var (ourLogits, key) in new[] { (mlm, "prediction_logits"), (nsp, "seq_relationship_logits") })
            {
                var expected = new List<double>();
                void Walk(JsonElement x) { if (x.ValueKind == JsonValueKind.Array) foreach (var c in x.EnumerateArray()) Walk(c); else expected.Add(x.GetDouble()); }
                Walk(live.GetProperty(key));
                Assert.Equal(expected.Count, ourLogits.Length);
                double scale = expected.Max(Math.Abs), worst = 0;
                for (int i = 0; i < expected.Count; i++) worst = Math.Max(worst, Math.Abs(ourLogits[i] - expected[i]));
                log.WriteLine($"{dtype} {key}: relative error {worst / scale:E2}");
                Assert.True(worst / scale <= 1e-5, $"{dtype} {key}: relative error {worst / scale:E2}");
            }
        }
    }
}
