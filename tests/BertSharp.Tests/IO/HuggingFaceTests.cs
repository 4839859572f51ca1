using BertSharp.Data;
using BertSharp.Tensors;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Tests.Model;
using Xunit.Abstractions;

namespace BertSharp.Tests.IO;

/// <summary>A fact that runs only where Debian's PyTorch is installed (/usr/bin/python3 with torch).</summary>
public sealed class RequiresTorchFactAttribute : FactAttribute
{
    public RequiresTorchFactAttribute()
    {
        if (!TorchPython.Available) Skip = "needs /usr/bin/python3 with torch (python3-torch); the committed golden output covers CI";
    }
}

public static class TorchPython
{
    public const string Python = "/usr/bin/python3";
    private static readonly Lazy<bool> _available = new(() =>
    {
        if (!File.Exists(Python)) return false;
        try { return Run(["-c", "import torch, numpy"], out _) == 0; }
        catch (Exception) { return false; }
    });
    public static bool Available => _available.Value;

    public static int Run(IEnumerable<string> args, out string output)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        output += err.Result;
        return p.ExitCode;
    }

    public static string Tool(string name, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "tools", "reference", name));
}

/// <summary>A small deterministic model folder for the interoperability tests.</summary>
internal static class HfTestModel
{
    public const int B = 2, T = 8;

    public static BertConfig Config() => new()
    {
        VocabSize = 40, HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 24,
        MaxPositionEmbeddings = 32, HiddenDropoutProb = 0.1f, AttentionProbsDropoutProb = 0.1f, InitializerRange = 0.3f,
    };

    public static Vocabulary Vocab(int size = 40) =>
        Vocabulary.FromTokens(Vocabulary.DefaultSpecialTokens.Concat(Enumerable.Range(5, size - 5).Select(i => $"w{i}")));

    /// <summary>BERT init with a large std, then every vector perturbed away from 1/0 so a swapped LayerNorm
    /// gamma/beta or a lost bias changes the logits.</summary>
    public static ModelFolder Build(bool withClassifier = false)
    {
        var p = new BertParameters(Config());
        p.Initialize(2024);
        var rng = new SplitMix64(99);
        foreach (var e in p.Layout.Entries)
            if (e.Shape.Length == 1)
            {
                var v = p.Values.AsSpan(e.Offset, e.Length);
                for (int i = 0; i < v.Length; i++) v[i] += (float)(0.2 * rng.NextGaussian());
            }
        if (withClassifier)
        {
            p = p.WithClassifier(["neg", "pos", "mixed"], 5, 0.3f);
            p.Value(BertParameterLayout.ClassifierBias).AsSpan()[1] = 0.25f;
        }
        return new ModelFolder { Parameters = p, Vocabulary = Vocab(), LowerCase = true };
    }

    public static (int[] Ids, int[] Types, int[] Mask) Inputs()
    {
        int[] ids = [2, 7, 11, 4, 30, 3, 15, 3, 2, 39, 5, 3, 0, 0, 0, 0];
        int[] types = [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        int[] mask = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0];
        return (ids, types, mask);
    }

    /// <summary>Our MLM logits at every position ([B·T, V]) and NSP logits ([B, 2]): all positions are "masked".</summary>
    public static (float[] Mlm, float[] Nsp) OurLogits(BertParameters p)
    {
        var (ids, types, mask) = Inputs();
        var positions = new int[B * T];
        for (int i = 0; i < positions.Length; i++) positions[i] = i % T;
        var weights = Enumerable.Repeat(1f, B * T).ToArray();
        var model = new BertForPreTraining(p);
        model.Forward(BertBatch.Create(B, T, T, ids, types, mask, positions, new int[B * T], weights, new int[B]), DropoutContext.Off);
        return (model.Heads.MlmLogits.ToArray(), model.Heads.NspLogits.ToArray());
    }

    public static string InputsJson()
    {
        var (ids, types, mask) = Inputs();
        int[][] Rows(int[] a) => Enumerable.Range(0, B).Select(b => a.Skip(b * T).Take(T).ToArray()).ToArray();
        return JsonSerializer.Serialize(new Dictionary<string, int[][]>
        {
            ["input_ids"] = Rows(ids), ["token_type_ids"] = Rows(types), ["attention_mask"] = Rows(mask),
        });
    }
}

public class HuggingFaceTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Sha256(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    /// <summary>max |a − e| / max |e| over the tensor (float32 rounding is relative to the tensor's scale).</summary>
    private static double RelativeError(ReadOnlySpan<float> actual, IReadOnlyList<double> expected)
    {
        Assert.Equal(expected.Count, actual.Length);
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Count; i++) worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        return worst / scale;
    }

    private static List<double> Flatten(JsonElement e)
    {
        var list = new List<double>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var c in x.EnumerateArray()) Walk(c);
            else list.Add(x.GetDouble());
        }
        Walk(e);
        return list;
    }

    private void CheckAgainst(JsonElement golden, string exportedWeights)
    {
        var p = ModelFolder.Load(Path.GetDirectoryName(exportedWeights)!).Parameters;
        var (mlm, nsp) = HfTestModel.OurLogits(p);
        double mlmErr = RelativeError(mlm, Flatten(golden.GetProperty("prediction_logits")));
        double nspErr = RelativeError(nsp, Flatten(golden.GetProperty("seq_relationship_logits")));
        log.WriteLine($"relative error vs PyTorch: MLM {mlmErr:E2}, NSP {nspErr:E2}");
        Assert.True(mlmErr <= 1e-5, $"MLM logits relative error {mlmErr:E2}");
        Assert.True(nspErr <= 1e-5, $"NSP logits relative error {nspErr:E2}");
    }

    [Fact]
    public void Export_matches_the_committed_pytorch_logits()
    {
        string folder = Path.Combine(_dir, "export");
        HfTestModel.Build().Save(folder);
        var golden = JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture("hf_export_golden.json"))).RootElement;
        // The golden was computed by load_export.py from exactly this file.
        Assert.Equal(golden.GetProperty("model_sha256").GetString(), Sha256(Path.Combine(folder, "model.safetensors")));
        CheckAgainst(golden, Path.Combine(folder, "model.safetensors"));
    }

    [RequiresTorchFact]
    public void Export_loads_in_the_pytorch_reference_with_strict_names_and_the_same_logits()
    {
        string folder = Path.Combine(_dir, "export");
        HfTestModel.Build().Save(folder);
        if (Environment.GetEnvironmentVariable("BERTSHARP_KEEP_HF_EXPORT") is { Length: > 0 } keep)
        {
            if (Directory.Exists(keep)) Directory.Delete(keep, true);
            HfTestModel.Build().Save(keep);
            File.WriteAllText(Path.Combine(keep, "inputs.json"), HfTestModel.InputsJson());
        }
        string inputs = Path.Combine(_dir, "inputs.json"), output = Path.Combine(_dir, "out.json");
        File.WriteAllText(inputs, HfTestModel.InputsJson());
        int rc = TorchPython.Run([TorchPython.Tool("load_export.py"), folder, "--inputs", inputs, "--out", output], out string text);
        log.WriteLine(text);
        Assert.True(rc == 0, $"load_export.py failed ({rc}): {text}");
        var live = JsonDocument.Parse(File.ReadAllText(output)).RootElement;
        CheckAgainst(live, Path.Combine(folder, "model.safetensors"));
        // The committed golden must still be what the script produces.
        var golden = JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture("hf_export_golden.json"))).RootElement;
        Assert.Equal(golden.GetProperty("model_sha256").GetString(), live.GetProperty("model_sha256").GetString());
    }

    [Fact]
    public void Export_writes_the_files_and_fields_hf_reads()
    {
        string folder = Path.Combine(_dir, "export");
        HfTestModel.Build().Save(folder);
        string[] files = Directory.GetFiles(folder).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt" }, files);
        var c = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json"))).RootElement;
        Assert.Equal("bert", c.GetProperty("model_type").GetString());
        Assert.Equal("BertForPreTraining", c.GetProperty("architectures")[0].GetString());
        Assert.Equal("absolute", c.GetProperty("position_embedding_type").GetString());
        Assert.Equal(16, c.GetProperty("hidden_size").GetInt32());
        Assert.Equal(1e-12, c.GetProperty("layer_norm_eps").GetDouble(), 1e-18);
        Assert.Equal(0, c.GetProperty("pad_token_id").GetInt32());
        var tok = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json"))).RootElement;
        Assert.True(tok.GetProperty("do_lower_case").GetBoolean());
        Assert.Equal("BertTokenizer", tok.GetProperty("tokenizer_class").GetString());
        Assert.Equal("[MASK]", tok.GetProperty("mask_token").GetString());
        using var r = new SafeTensorsReader(Path.Combine(folder, "model.safetensors"));
        Assert.Equal("pt", r.Metadata["format"]);
        Assert.False(r.Contains("cls.predictions.decoder.weight")); // tied: stored once, as save_pretrained does
        Assert.True(r.Contains("cls.predictions.bias"));
        Assert.Equal(new long[] { 40, 16 }, r.Get("bert.embeddings.word_embeddings.weight").Shape);
        Assert.False(Directory.GetDirectories(_dir).Any(d => Path.GetFileName(d).StartsWith('.')), "temporary folder left behind");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Import_then_export_round_trips_bit_exactly(bool withClassifier)
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        var original = HfTestModel.Build(withClassifier);
        original.Save(a);
        var imported = ModelFolder.Load(a);
        Assert.Empty(imported.Notes);
        imported.Save(b);
        foreach (var f in Directory.GetFiles(a))
            Assert.Equal(File.ReadAllBytes(f), File.ReadAllBytes(Path.Combine(b, Path.GetFileName(f))));
        Assert.Equal(original.Parameters.Values.ToArray(), imported.Parameters.Values.ToArray());
        if (withClassifier)
        {
            Assert.Equal(["neg", "pos", "mixed"], imported.Labels!);
            Assert.Equal(original.Parameters.Value(BertParameterLayout.ClassifierWeight).ToArray(), imported.Parameters.Value(BertParameterLayout.ClassifierWeight).ToArray());
            Assert.Equal(original.Parameters.Value(BertParameterLayout.ClassifierBias).ToArray(), imported.Parameters.Value(BertParameterLayout.ClassifierBias).ToArray());
        }
        // The exported folder of a pretraining model is also our checkpoint format.
        if (!withClassifier) Assert.Equal(original.Parameters.Values.ToArray(), Checkpoint.LoadParameters(a).Values.ToArray());
    }

    /// <summary>Issue 17: import never writes a folder that the other commands then refuse — for each published style it
    /// accepts (BertModel names, TF gamma/beta, a tied decoder stored, F16, a bare BertModel without heads), the imported
    /// folder works in info, fill-mask, nsp, logits and export.</summary>
    [Theory]
    [InlineData(true, true, true, true, false)]
    [InlineData(false, false, false, true, true)]
    [InlineData(true, false, false, false, false)]
    public void An_imported_folder_is_accepted_by_every_command_that_reads_a_model(bool bare, bool gammaBeta, bool withDecoder, bool withHeads, bool f16)
    {
        string published = WritePublishedStyle(HfTestModel.Build(), $"pub-{bare}-{gammaBeta}-{withDecoder}-{withHeads}-{f16}", bare, gammaBeta, withDecoder,
            withHeads: withHeads, f16: f16);
        string imported = Path.Combine(_dir, "imported-" + Path.GetFileName(published));
        Assert.Equal(0, Cli.CliTestSupport.Run(["import", published, "--out", imported]).Code);
        string ids = Path.Combine(_dir, "ids-" + Path.GetFileName(published) + ".json");
        File.WriteAllText(ids, "{\"input_ids\": [[2, 9, 4, 3]]}");
        foreach (var args in new[]
        {
            new[] { "info", imported }, ["fill-mask", imported, "a [MASK] ."], ["nsp", imported, "a b .", "c d ."],
            ["logits", imported, ids], ["export", imported, "--out", Path.Combine(_dir, "re-" + Path.GetFileName(published))],
        })
        {
            var r = Cli.CliTestSupport.Run(args);
            Assert.True(r.Code == 0, $"{string.Join(' ', args)}: exit {r.Code}: {r.Err}");
        }
    }

    /// <summary>Writes a folder as an older or bare published BERT would be: BertModel names without "bert.",
    /// TF-style LayerNorm gamma/beta, the tied decoder stored, the position_ids buffer, F16 where asked.</summary>
    private string WritePublishedStyle(ModelFolder m, string name, bool bare, bool gammaBeta, bool withDecoder,
        bool untiedDecoder = false, bool withHeads = true, string? dropTensor = null, bool f16 = false)
    {
        string folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        var p = m.Parameters;
        var w = new SafeTensorsWriter();
        var halves = new List<(string, ushort[], int[])>();
        foreach (var e in p.Layout.Entries)
        {
            if (e.Name == dropTensor) continue;
            bool head = e.Name.StartsWith("cls.", StringComparison.Ordinal);
            if (head && !withHeads) continue;
            string n = e.Name;
            if (bare && n.StartsWith("bert.", StringComparison.Ordinal)) n = n["bert.".Length..];
            if (gammaBeta) n = n.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta");
            var data = p.Values.ToArray().AsMemory(e.Offset, e.Length);
            if (f16) halves.Add((n, data.ToArray().Select(x => BitConverter.HalfToUInt16Bits((Half)x)).ToArray(), e.Shape));
            else w.AddF32(n, data, e.Shape);
        }
        if (withDecoder)
        {
            var word = p.Layout["bert.embeddings.word_embeddings.weight"];
            var copy = p.Values.AsSpan(word.Offset, word.Length).ToArray();
            if (untiedDecoder) copy[17] += 1f;
            w.AddF32("cls.predictions.decoder.weight", copy, word.Shape);
            var bias = p.Layout["cls.predictions.bias"];
            w.AddF32("cls.predictions.decoder.bias", p.Values.ToArray().AsMemory(bias.Offset, bias.Length), bias.Shape);
        }
        w.AddI64((bare ? "" : "bert.") + "embeddings.position_ids", Enumerable.Range(0, 32).Select(i => (long)i).ToArray(), 1, 32);
        string path = Path.Combine(folder, "model.safetensors");
        if (f16) WriteF16(path, halves);
        else w.Save(path);
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"transformers_version\": \"4.6.0.dev0\", \"gradient_checkpointing\": false,"
            + m.ConfigJson().TrimStart()[1..].Replace("\"BertForPreTraining\"", "\"BertModel\""));
        m.Vocabulary!.Save(Path.Combine(folder, "vocab.txt"));
        return folder;
    }

    private static void WriteF16(string path, List<(string Name, ushort[] Data, int[] Shape)> items)
    {
        var header = new Dictionary<string, object>();
        long off = 0;
        foreach (var (n, d, s) in items)
        {
            header[n] = new { dtype = "F16", shape = s, data_offsets = new[] { off, off + d.Length * 2 } };
            off += d.Length * 2;
        }
        var h = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var f = File.Create(path);
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)h.Length);
        f.Write(len);
        f.Write(h);
        foreach (var (_, d, _) in items) f.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.AsSpan()));
    }

    [Fact]
    public void Import_reads_published_layouts_bare_names_gamma_beta_and_the_tied_decoder()
    {
        var m = HfTestModel.Build();
        foreach (var (bare, gb, dec) in new[] { (true, true, true), (false, true, false), (true, false, true), (false, false, true) })
        {
            string folder = WritePublishedStyle(m, $"pub-{bare}-{gb}-{dec}", bare, gb, dec);
            var imported = ModelFolder.Load(folder);
            Assert.Equal(m.Parameters.Values.ToArray(), imported.Parameters.Values.ToArray());
            Assert.Equal(["BertForPreTraining"], imported.Config.Architectures);
            if (dec) Assert.Contains(imported.Notes, n => n.Contains("cls.predictions.decoder.weight"));
            // Re-exported, it is exactly our own export of the same model.
            string again = Path.Combine(_dir, $"again-{bare}-{gb}-{dec}"), ours = Path.Combine(_dir, "ours");
            imported.Save(again);
            if (!Directory.Exists(ours)) m.Save(ours);
            Assert.Equal(File.ReadAllBytes(Path.Combine(ours, "model.safetensors")), File.ReadAllBytes(Path.Combine(again, "model.safetensors")));
        }
    }

    [Fact]
    public void Import_widens_f16_and_initialises_the_heads_a_bare_bertmodel_lacks()
    {
        var m = HfTestModel.Build();
        string folder = WritePublishedStyle(m, "f16", bare: true, gammaBeta: false, withDecoder: false, withHeads: false, f16: true);
        var imported = ModelFolder.Load(folder);
        var word = m.Parameters.Layout["bert.embeddings.word_embeddings.weight"];
        for (int i = 0; i < word.Length; i++)
            Assert.Equal((float)(Half)m.Parameters.Values.AsSpan()[word.Offset + i], imported.Parameters.Values.AsSpan()[word.Offset + i]);
        Assert.Contains(imported.Notes, n => n.Contains("widened"));
        Assert.Contains(imported.Notes, n => n.Contains("initialised") && n.Contains("cls.seq_relationship.weight"));
        var ln = imported.Parameters.Value("cls.predictions.transform.LayerNorm.weight");
        Assert.All(ln.ToArray(), v => Assert.Equal(1f, v));
    }

    private string Broken(string name, Action<string> mutate)
    {
        string folder = Path.Combine(_dir, name);
        HfTestModel.Build().Save(folder);
        mutate(folder);
        return folder;
    }

    private static void Rewrite(string folder, Func<byte[], byte[]> f)
    {
        string path = Path.Combine(folder, "model.safetensors");
        File.WriteAllBytes(path, f(File.ReadAllBytes(path)));
    }

    /// <summary>Replaces the safetensors header by <paramref name="edit"/>(header) keeping the data.</summary>
    private static void EditHeader(string folder, Func<string, string> edit)
    {
        Rewrite(folder, bytes =>
        {
            int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            var h = Encoding.UTF8.GetBytes(edit(Encoding.UTF8.GetString(bytes, 8, n)));
            var result = new byte[8 + h.Length + bytes.Length - 8 - n];
            BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
            h.CopyTo(result, 8);
            bytes.AsSpan(8 + n).CopyTo(result.AsSpan(8 + h.Length));
            return result;
        });
    }

    public static TheoryData<string, string> BadFolders => new()
    {
        { "truncated", "truncated" },
        { "header-beyond-file", "truncated: header says" },
        { "overlap", "overlaps" },
        { "out-of-range", "ends at byte" },
        { "unknown-dtype", "unknown dtype 'F7'" },
        { "int-dtype", "parameters must be F32, F16 or BF16" },
        { "shape-mismatch", "the config needs [16]" },
        { "missing-tensor", "missing tensor 'bert.encoder.layer.1.output.dense.weight'" },
        { "extra-tensor", "unexpected tensor 'roberta.pooler.x'" },
        { "untied-decoder", "only a decoder tied" },
        { "missing-vocab", "vocab.txt: vocabulary not found" },
        { "heads-not-dividing", "hidden_size 16 is not divisible by num_attention_heads 3" },
        { "not-bert", "model_type 'roberta' is not supported" },
        { "pickle-only", "only model.safetensors is read, found pytorch_model.bin" },
        { "vocab-too-big", "41 tokens but the model's vocab_size is 40" },
    };

    [Theory]
    [MemberData(nameof(BadFolders))]
    public void Bad_input_is_one_clear_error(string kind, string expected)
    {
        string folder;
        if (kind == "untied-decoder")
            folder = WritePublishedStyle(HfTestModel.Build(), kind, false, false, withDecoder: true, untiedDecoder: true);
        else if (kind == "missing-tensor")
            folder = WritePublishedStyle(HfTestModel.Build(), kind, false, false, false, dropTensor: "bert.encoder.layer.1.output.dense.weight");
        else folder = Broken(kind, f =>
        {
            string cfg = Path.Combine(f, "config.json");
            switch (kind)
            {
                case "truncated": Rewrite(f, b => b[..(b.Length - 10)]); break;
                case "header-beyond-file": Rewrite(f, b => { BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)b.Length); return b; }); break;
                case "overlap":
                    EditHeader(f, h => ShiftOffsets(h, "bert.embeddings.LayerNorm.bias", -8)); break;
                case "out-of-range":
                    EditHeader(f, h => GrowLast(h, "cls.seq_relationship.bias", 1024)); break;
                case "unknown-dtype": EditHeader(f, h => ReplaceDtype(h, "bert.pooler.dense.bias", "F7")); break;
                case "int-dtype": EditHeader(f, h => ReplaceDtype(h, "bert.pooler.dense.bias", "I32")); break;
                case "shape-mismatch":
                    EditHeader(f, h => h.Replace("\"bert.pooler.dense.bias\":{\"dtype\":\"F32\",\"shape\":[16]", "\"bert.pooler.dense.bias\":{\"dtype\":\"F32\",\"shape\":[4,4]")); break;
                case "extra-tensor":
                    var w = new SafeTensorsWriter();
                    using (var r = new SafeTensorsReader(Path.Combine(f, "model.safetensors")))
                        foreach (var n in r.Tensors.Keys) w.AddF32(n, r.ReadF32(n), r.Get(n).Shape.Select(x => (int)x).ToArray());
                    w.AddF32("roberta.pooler.x", new float[] { 1 });
                    w.Save(Path.Combine(f, "model.safetensors"));
                    break;
                case "missing-vocab": File.Delete(Path.Combine(f, "vocab.txt")); File.Delete(Path.Combine(f, "tokenizer.json")); break;
                case "heads-not-dividing": File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3")); break;
                case "not-bert": File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"model_type\": \"bert\"", "\"model_type\": \"roberta\"")); break;
                case "pickle-only":
                    File.Move(Path.Combine(f, "model.safetensors"), Path.Combine(f, "pytorch_model.bin")); break;
                case "vocab-too-big": File.AppendAllText(Path.Combine(f, "vocab.txt"), "extra\n"); break;
            }
        });
        var e = Assert.ThrowsAny<Exception>(() => ModelFolder.Load(folder));
        Assert.True(e is InvalidDataException or FileNotFoundException or ArgumentException, $"{e.GetType().Name}: {e.Message}");
        log.WriteLine(e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static string ShiftOffsets(string header, string name, long delta)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(header)!.AsObject();
        var offs = o[name]!["data_offsets"]!.AsArray();
        long b = (long)offs[0]!, e = (long)offs[1]!;
        o[name]!["data_offsets"] = new System.Text.Json.Nodes.JsonArray(b + delta, e + delta);
        return o.ToJsonString();
    }

    /// <summary>A consistent entry (shape matches its byte range) whose range runs past the end of the file.</summary>
    private static string GrowLast(string header, string name, int extra)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(header)!.AsObject();
        var offs = o[name]!["data_offsets"]!.AsArray();
        long b = (long)offs[0]!, e = (long)offs[1]!;
        long n = (e - b) / 4 + extra;
        o[name]!["shape"] = new System.Text.Json.Nodes.JsonArray(n);
        o[name]!["data_offsets"] = new System.Text.Json.Nodes.JsonArray(b, b + 4 * n);
        return o.ToJsonString();
    }

    private static string ReplaceDtype(string header, string name, string dtype)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(header)!.AsObject();
        o[name]!["dtype"] = dtype;
        return o.ToJsonString();
    }
}
