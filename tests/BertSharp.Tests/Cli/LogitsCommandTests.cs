using System.Security.Cryptography;
using System.Text.Json;
using BertSharp.Cli;
using BertSharp.IO;
using BertSharp.Pipelines;
using BertSharp.Tests.IO;
using BertSharp.Tests.Model;
using Xunit.Abstractions;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cli;

/// <summary>
/// <c>bertsharp logits</c> and <see cref="PreTrainingLogits"/> against PyTorch. The expected logits are the committed
/// <c>Fixtures/hf_export_golden.json</c>: <c>tools/reference/load_export.py</c> (HF's <c>from_pretrained</c> rules,
/// float64) run on the export of <see cref="HfTestModel.Build"/> with <see cref="HfTestModel.InputsJson"/> (row 1
/// padded after 4 tokens). It records the SHA-256 of the model.safetensors it read, checked here. To regenerate it
/// (after a deliberate change to the writer or to BertParameters.Initialize):
///   BERTSHARP_KEEP_HF_EXPORT=/tmp/hf dotnet test BertSharp.slnx -c Release --filter Export_loads_in_the_pytorch
///   /usr/bin/python3 tools/reference/load_export.py /tmp/hf --inputs /tmp/hf/inputs.json --out tests/BertSharp.Tests/Fixtures/hf_export_golden.json
/// </summary>
public sealed class LogitsCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Export()
    {
        string folder = _dir["export"];
        if (!Directory.Exists(folder)) HfTestModel.Build().Save(folder);
        return folder;
    }

    private string Write(string name, string text)
    {
        File.WriteAllText(_dir[name], text);
        return _dir[name];
    }

    private static double[] Flatten(JsonElement e)
    {
        var list = new List<double>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var c in x.EnumerateArray()) Walk(c);
            else list.Add(x.GetDouble());
        }
        Walk(e);
        return list.ToArray();
    }

    /// <summary>‖a − e‖₂ / ‖e‖₂ over the rows (of <paramref name="width"/> values) that <paramref name="keep"/> selects.</summary>
    private static double RelativeL2(double[] actual, double[] expected, int width, Func<int, bool> keep)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
            if (keep(i / width))
            {
                diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
                norm += expected[i] * expected[i];
            }
        return Math.Sqrt(diff / norm);
    }

    private (double Mlm, double Nsp) CompareWith(JsonElement expected, JsonElement actual, int[] mask)
    {
        int v = HfTestModel.Config().VocabSize;
        var mlm = Flatten(actual.GetProperty("prediction_logits"));
        var nsp = Flatten(actual.GetProperty("seq_relationship_logits"));
        Assert.Equal(mask.Length * v, mlm.Length);
        double mlmErr = RelativeL2(mlm, Flatten(expected.GetProperty("prediction_logits")), v, row => mask[row] == 1);
        double mlmAll = RelativeL2(mlm, Flatten(expected.GetProperty("prediction_logits")), v, _ => true);
        double nspErr = RelativeL2(nsp, Flatten(expected.GetProperty("seq_relationship_logits")), 2, _ => true);
        log.WriteLine($"relative L2 vs PyTorch: prediction_logits {mlmErr:E2} (non-padded), {mlmAll:E2} (all positions); seq_relationship_logits {nspErr:E2}");
        return (mlmErr, nspErr);
    }

    [Fact]
    public void Logits_of_an_exported_folder_match_the_committed_pytorch_logits()
    {
        string folder = Export();
        var golden = JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture("hf_export_golden.json"))).RootElement;
        Assert.Equal(golden.GetProperty("model_sha256").GetString(),
            Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, "model.safetensors")))));
        string inputs = Write("inputs.json", HfTestModel.InputsJson());

        var r = Run(["logits", folder, inputs, "--out", _dir["out.json"]]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("", r.Out);
        var ours = JsonDocument.Parse(File.ReadAllText(_dir["out.json"])).RootElement;
        Assert.Equal(["prediction_logits", "seq_relationship_logits"], ours.EnumerateObject().Select(p => p.Name));
        Assert.Equal(HfTestModel.B, ours.GetProperty("prediction_logits").GetArrayLength());
        Assert.Equal(HfTestModel.T, ours.GetProperty("prediction_logits")[1].GetArrayLength());
        var (mlm, nsp) = CompareWith(golden, ours, HfTestModel.Inputs().Mask);
        Assert.True(mlm < 1e-4, $"prediction_logits relative L2 {mlm:E2}");
        Assert.True(nsp < 1e-4, $"seq_relationship_logits relative L2 {nsp:E2}");

        // Standard output carries the same JSON, byte for byte.
        var s = Run(["logits", folder, inputs]);
        Assert.True(s.Code == 0, s.Err);
        Assert.Equal(File.ReadAllText(_dir["out.json"]), s.Out);
    }

    [RequiresTorchFact]
    public void Logits_match_the_pytorch_reference_live_on_longer_padded_rows()
    {
        string folder = Export();
        // Three rows of 19 (more than the fixture's 8): two segments, padding of 0, 7 and 13 positions.
        int[] lengths = [19, 12, 6];
        var ids = lengths.Select((n, b) => Enumerable.Range(0, 19).Select(t => t < n ? (t * 7 + b * 3) % 40 : 0).ToArray()).ToArray();
        var types = lengths.Select(n => Enumerable.Range(0, 19).Select(t => t >= n / 2 && t < n ? 1 : 0).ToArray()).ToArray();
        var mask = lengths.Select(n => Enumerable.Range(0, 19).Select(t => t < n ? 1 : 0).ToArray()).ToArray();
        string inputs = Write("long.json", JsonSerializer.Serialize(new { input_ids = ids, token_type_ids = types, attention_mask = mask }));

        int rc = TorchPython.Run([TorchPython.Tool("load_export.py"), folder, "--inputs", inputs, "--out", _dir["torch.json"]], out string text);
        Assert.True(rc == 0, $"load_export.py failed ({rc}): {text}");
        var r = Run(["logits", folder, inputs, "--out", _dir["ours.json"]]);
        Assert.True(r.Code == 0, r.Err);
        var (mlmErr, nspErr) = CompareWith(JsonDocument.Parse(File.ReadAllText(_dir["torch.json"])).RootElement,
            JsonDocument.Parse(File.ReadAllText(_dir["ours.json"])).RootElement, mask.SelectMany(m => m).ToArray());
        Assert.True(mlmErr < 1e-4, $"prediction_logits relative L2 {mlmErr:E2}");
        Assert.True(nspErr < 1e-4, $"seq_relationship_logits relative L2 {nspErr:E2}");
    }

    [Fact]
    public void Left_out_token_types_and_mask_default_to_zeros_and_ones()
    {
        string folder = Export();
        var a = Run(["logits", folder, Write("a.json", """{"input_ids": [[2, 9, 17, 3], [2, 30, 31, 3]]}""")]);
        var b = Run(["logits", folder, Write("b.json", """
            {"input_ids": [[2, 9, 17, 3], [2, 30, 31, 3]], "token_type_ids": null, "attention_mask": [[1, 1, 1, 1], [1, 1, 1, 1]]}
            """)]);
        var c = Run(["logits", folder, Write("c.json", """
            {"input_ids": [[2, 9, 17, 3], [2, 30, 31, 3]], "token_type_ids": [[0, 0, 1, 1], [0, 0, 0, 0]]}
            """)]);
        Assert.True(a.Code == 0 && b.Code == 0 && c.Code == 0, a.Err + b.Err + c.Err);
        Assert.Equal(a.Out, b.Out);
        Assert.NotEqual(a.Out, c.Out); // token types do reach the model
    }

    [Fact]
    public void The_json_numbers_are_the_float32_logits_exactly_and_include_the_mlm_bias_once()
    {
        var p = HfTestModel.Build().Parameters;
        var (ids, types, mask) = HfTestModel.Inputs();
        int[][] Rows(int[] x) => x.Chunk(HfTestModel.T).ToArray();
        var inputs = new PreTrainingInputs(Rows(ids), Rows(types), Rows(mask));
        var logits = new PreTrainingLogits(p);
        var result = logits.Compute(inputs);
        Assert.Equal((2, 8, 40), (result.BatchSize, result.SeqLength, result.VocabSize));

        using var stream = new MemoryStream();
        result.WriteJson(stream);
        var json = JsonDocument.Parse(stream.ToArray()).RootElement;
        var parsed = json.GetProperty("prediction_logits").EnumerateArray().SelectMany(b => b.EnumerateArray()).SelectMany(t => t.EnumerateArray())
            .Select(x => x.GetSingle()).ToArray();
        Assert.Equal(result.PredictionLogits, parsed); // bit-exact round trip
        Assert.Equal(result.SeqRelationshipLogits, json.GetProperty("seq_relationship_logits").EnumerateArray()
            .SelectMany(b => b.EnumerateArray()).Select(x => x.GetSingle()).ToArray());

        // The same instance gives the same numbers on a second call (its buffers are reused), also after a smaller batch.
        logits.Compute(PreTrainingInputs.Create([[2, 9, 3]]));
        Assert.Equal(result.PredictionLogits, logits.Compute(inputs).PredictionLogits);

        // d(logit[·, ·, j]) / d(cls.predictions.bias[j]) = 1 at every position, padded ones included: the bias is in
        // the logits, once. Other columns and NSP do not move.
        p.Value("cls.predictions.bias").AsSpan()[17] += 1f;
        var shifted = new PreTrainingLogits(p).Compute(inputs);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 8; t++)
                for (int j = 0; j < 40; j++)
                    Assert.Equal(result.Prediction(b, t)[j] + (j == 17 ? 1f : 0f), shifted.Prediction(b, t)[j], 1e-5f);
        Assert.Equal(result.SeqRelationshipLogits, shifted.SeqRelationshipLogits);
    }

    public static TheoryData<string, string> BadInputs => new()
    {
        { """{"input_ids": [[2, 9, 17, 3], [2, 30, 3]]}""", "input_ids[1] has 3 values, input_ids[0] has 4 (all rows must be the same length: pad them)" },
        { """{"input_ids": [[2, 9], [2, 3]], "attention_mask": [[1, 1], [1]]}""", "attention_mask[1] has 1 values, input_ids[0] has 2" },
        { """{"input_ids": [[2, 9], [2, 3]], "token_type_ids": [[0, 0]]}""", "token_type_ids has 1 rows, input_ids has 2" },
        { """{"input_ids": [[2, 40, 3]]}""", "input_ids[0][1] = 40 is outside the vocabulary (vocab_size 40)" },
        { """{"input_ids": [[2, -1, 3]]}""", "input_ids[0][1] = -1 is outside the vocabulary (vocab_size 40)" },
        { """{"input_ids": [[2, 5]], "token_type_ids": [[0, 2]]}""", "token_type_ids[0][1] = 2 is outside [0, 2) (type_vocab_size)" },
        { """{"input_ids": [[2, 5]], "attention_mask": [[1, 2]]}""", "attention_mask[0][1] = 2 is not 0 or 1" },
        { "{\"input_ids\": [[" + string.Join(", ", Enumerable.Repeat(5, 33)) + "]]}", "rows of 33 tokens, but the model has max_position_embeddings 32" },
        { """{"input_ids": [[2, 5]""", "not valid JSON (" },
        { """{"token_type_ids": [[0, 0]]}""", "input_ids missing" },
        { """{"input_ids": [[2, 5]], "attention_masks": [[1, 1]]}""", "unknown key 'attention_masks' (expected input_ids, token_type_ids, attention_mask)" },
        { """{"input_ids": [2, 5]}""", "input_ids[0] is not a list (expected a list of lists of integers)" },
        { """{"input_ids": [[2, 5.5]]}""", "input_ids[0][1] = 5.5 is not an integer" },
        { """{"input_ids": []}""", "input_ids has no rows" },
        { """[[2, 5]]""", "expected a JSON object with input_ids" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_one_line_naming_the_file_and_exit_code_3(string json, string expected)
    {
        string input = Write("bad.json", json);
        var r = Run(["logits", Export(), input, "--out", _dir["out.json"]]);
        log.WriteLine(r.Err);
        Assert.Equal(CliRunner.ExitBadInput, r.Code);
        Assert.StartsWith($"error: {input}: {expected}", r.Err.TrimEnd('\n').Split('\n').Single());
        Assert.False(File.Exists(_dir["out.json"]));
    }

    [Fact]
    public void Missing_files_and_folders_are_clear_errors()
    {
        string input = Write("in.json", """{"input_ids": [[2, 9, 3]]}""");
        var r = Run(["logits", Export(), _dir["nope.json"]]);
        Assert.Equal((CliRunner.ExitBadInput, $"error: {_dir["nope.json"]}: no such file\n"), (r.Code, r.Err));
        r = Run(["logits", _dir["no-model"], input]);
        Assert.Equal((CliRunner.ExitBadInput, $"error: {_dir["no-model"]}: no such checkpoint or run folder\n"), (r.Code, r.Err));
        string outPath = Path.Combine(_dir["missing-folder"], "out.json");
        r = Run(["logits", Export(), input, "--out", outPath]);
        Assert.Equal(CliRunner.ExitBadInput, r.Code);
        Assert.StartsWith($"error: {outPath}: the folder {_dir["missing-folder"]} does not exist", r.Err);
    }

    [Fact]
    public void Out_replaces_the_file_whole_and_leaves_no_temporary_file()
    {
        string folder = Export(), outPath = _dir["out.json"];
        File.WriteAllText(outPath, "old content that is longer than nothing");
        // An existing --out is replaced only with --force.
        var refused = Run(["logits", folder, Write("in.json", """{"input_ids": [[2, 9, 3]]}"""), "--out", outPath]);
        Assert.Equal(CliRunner.ExitBadInput, refused.Code);
        Assert.Contains("--force", refused.Err);
        Assert.Equal("old content that is longer than nothing", File.ReadAllText(outPath));
        var r = Run(["logits", folder, Write("in.json", """{"input_ids": [[2, 9, 3]]}"""), "--out", outPath, "--force"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains($"wrote {outPath}: prediction_logits [1, 3, 40], seq_relationship_logits [1, 2]", r.Err);
        var json = JsonDocument.Parse(File.ReadAllText(outPath)).RootElement;
        Assert.Equal(3 * 40, Flatten(json.GetProperty("prediction_logits")).Length);
        Assert.EndsWith("]]}\n", File.ReadAllText(outPath));
        Assert.Equal(["in.json", "out.json"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Non_finite_logits_are_refused_before_anything_is_written()
    {
        var p = HfTestModel.Build().Parameters;
        p.Value("cls.predictions.bias").AsSpan()[3] = float.NaN;
        var result = new PreTrainingLogits(p).Compute(PreTrainingInputs.Create([[2, 9, 3]]));
        using var stream = new MemoryStream();
        var e = Assert.Throws<BertSharpException>(() => result.WriteJson(stream));
        Assert.Equal(ErrorKind.BadCheckpoint, e.Kind);
        Assert.StartsWith("prediction_logits[0][0][3] = NaN: JSON cannot hold a non-finite number", e.Message);
        Assert.Equal(0, stream.Length);
        Assert.Throws<BertSharpException>(() => result.Save(_dir["nan.json"]));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }
}
