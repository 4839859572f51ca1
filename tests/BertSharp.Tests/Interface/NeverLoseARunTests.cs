using BertSharp.Cli;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Interface;

/// <summary>Issue 17, "never lose a run": outputs over their inputs, odd or empty paths, symbolic-link loops in a corpus
/// folder, I/O failures while saving, leftovers of killed saves, non-finite weights, non-finite metrics.</summary>
[Collection("cli")]
public class NeverLoseARunTests
{
    private static readonly string[] Vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "film", "good", "bad"];

    private static BertParameters TinyParameters() => new(BertConfig.FromJson("""
        {"vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
         "intermediate_size": 16, "max_position_embeddings": 16}
        """));

    [Fact]
    public void ExportAndImportRefuseToWriteOverTheRunTheyRead()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        var r = Run(TinyPretrain(corpus, config, run));
        Assert.True(r.Code == 0, r.Err);
        string checkpoint = Path.Combine(run, "checkpoints", "checkpoint-6");

        foreach (var args in new[]
        {
            new[] { "export", "--checkpoint", run, "--out", run, "--force" },                      // is the input
            ["export", "--checkpoint", run, "--out", Path.Combine(run, "checkpoints"), "--force"],   // contains the checkpoint
            ["export", "--checkpoint", checkpoint, "--out", run, "--force"],                        // contains the input
            ["export", "--checkpoint", run, "--out", Path.Combine(checkpoint, "hf"), "--force"],    // lies inside it
            ["import", "--from", checkpoint, "--out", run, "--force"],                              // onto the run it came from
            ["import", "--from", checkpoint, "--out", checkpoint, "--force"],
        })
        {
            var refused = Run(args);
            Assert.True(refused.Code == CliRunner.ExitUsage, $"{string.Join(' ', args)}: {refused.Code} {refused.Err}");
            Assert.Contains("--out", refused.Err);
            Assert.True(File.Exists(Path.Combine(run, "run.json")), string.Join(' ', args));
            Assert.True(File.Exists(Path.Combine(checkpoint, "model.safetensors")), string.Join(' ', args));
        }
        // The run still loads, and exporting beside it works.
        var ok = Run(["export", "--checkpoint", run, "--out", dir["hf"]]);
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Equal(0, Run(["info", run]).Code);
    }

    [Fact]
    public void AnOutputThatIsADeviceIsRefused()
    {
        using var dir = new TempDir();
        var p = TinyParameters();
        Checkpoint.Save(dir["ck"], p, null, null, new TrainerState { Step = 1 }, Vocab);
        var r = Run(["export", "--checkpoint", dir["ck"], "--out", "/dev/null", "--force"]);
        Assert.Equal(CliRunner.ExitUsage, r.Code);
        Assert.Contains("/dev/null", r.Err);
        Assert.Contains("device", r.Err);
    }

    [Theory]
    [InlineData("export", "--checkpoint", "", "--out", "x")]
    [InlineData("export", "--checkpoint", "x", "--out", "")]
    [InlineData("import", "--from", " ", "--out", "x")]
    [InlineData("tokenize", "--corpus", "", "--vocab", "v.txt", "--out", "x")]
    [InlineData("info", "")]
    [InlineData("fill-mask", "", "a [MASK] film")]
    [InlineData("pretrain", "--corpus", "")]
    [InlineData("finetune", "--model", "m", "--out", "")]
    public void AnEmptyPathIsAUsageErrorNamingTheOption(params string[] args)
    {
        var r = Run(args);
        Assert.Equal(CliRunner.ExitUsage, r.Code);
        int empty = Array.FindIndex(args, a => string.IsNullOrWhiteSpace(a));
        string named = empty > 0 && args[empty - 1].StartsWith("--") ? args[empty - 1] : "<";
        Assert.Contains(named, r.Err);
        Assert.Contains("empty", r.Err);
    }

    [Fact]
    public void AFolderCorpusFollowsNoLinkLoopAndReadsNoFileTwice()
    {
        using var dir = new TempDir();
        string root = Directory.CreateDirectory(dir["corpus"]).FullName;
        File.WriteAllText(Path.Combine(root, "a.txt"), "the first film was good.\n");
        Directory.CreateDirectory(Path.Combine(root, "sub"));
        File.WriteAllText(Path.Combine(root, "sub", "b.txt"), "the second film was bad.\n");
        Directory.CreateSymbolicLink(Path.Combine(root, "sub", "loop"), root);   // a cycle
        Directory.CreateSymbolicLink(Path.Combine(root, "again"), Path.Combine(root, "sub")); // the same folder twice
        File.CreateSymbolicLink(Path.Combine(root, "z-link.txt"), Path.Combine(root, "a.txt")); // the same file twice
        var reader = CorpusReader.Open(root, CorpusFormat.TextFolder);
        var texts = reader.ReadDocuments().ToList();
        Assert.Equal(2, texts.Count);
        Assert.Equal(2, reader.Stats.Documents);
    }

    [Fact]
    public void AFailedCheckpointSaveIsOneErrorWithThePathAndKeepsThePreviousCheckpoint()
    {
        using var dir = new TempDir();
        var p = TinyParameters();
        string outDir = dir["checkpoints"];
        Checkpoint.Save(outDir, p, null, null, new TrainerState { Step = 3 }, Vocab);
        var e = Assert.Throws<BertSharpException>(() => Checkpoint.Save(outDir, p, null, null, new TrainerState { Step = 6 }, Vocab,
            writeExtras: _ => throw new IOException("No space left on device")));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.Equal(CliRunner.ExitBadInput, CliRunner.ExitCode(e));
        Assert.Contains(Path.Combine(outDir, "checkpoint-6"), e.Message);
        Assert.Contains("No space left on device", e.Message);
        Assert.Equal([3L], Checkpoint.List(outDir).Select(c => c.Step));
        Assert.Empty(Directory.GetDirectories(outDir, ".*"));
        Checkpoint.LoadParameters(Path.Combine(outDir, "checkpoint-3"));
    }

    [Fact]
    public void LeftoverTemporaryCheckpointsOfAKilledRunAreCleanedAtTheNextSave()
    {
        using var dir = new TempDir();
        var p = TinyParameters();
        string outDir = Directory.CreateDirectory(dir["checkpoints"]).FullName;
        foreach (var leftover in new[] { ".checkpoint-4.tmp", ".checkpoint-6.tmp", ".checkpoint-2.tmp.old" })
        {
            Directory.CreateDirectory(Path.Combine(outDir, leftover));
            File.WriteAllText(Path.Combine(outDir, leftover, "model.safetensors"), "torn");
        }
        Checkpoint.Save(outDir, p, null, null, new TrainerState { Step = 6 }, Vocab);
        Assert.Empty(Directory.GetDirectories(outDir, ".*"));
        Assert.Equal([6L], Checkpoint.List(outDir).Select(c => c.Step));
    }

    [Fact]
    public void AModelFolderWriteFailureIsOneErrorWithThePath()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["file"], "not a folder");
        var m = new ModelFolder { Parameters = TinyParameters(), Vocabulary = Vocabulary.FromTokens(Vocab) };
        var e = Assert.Throws<BertSharpException>(() => m.Save(Path.Combine(dir["file"], "out")));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.Contains(Path.Combine(dir["file"], "out"), e.Message);
    }

    [Fact]
    public void NonFiniteWeightsAreRefusedWithTheTensorNamed()
    {
        using var dir = new TempDir();
        var p = TinyParameters();
        var values = new float[p.Layout.Length];
        var entry = p.Layout["bert.encoder.layer.0.attention.self.query.weight"];
        values[entry.Offset + 5] = float.NaN;
        p.CopyFrom(values);
        string ck = Checkpoint.Save(dir["checkpoints"], p, null, null, new TrainerState { Step = 2 }, Vocab);
        var e = Assert.Throws<BertSharpException>(() => Checkpoint.LoadParameters(ck));
        Assert.Equal(ErrorKind.Diverged, e.Kind);
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight", e.Message);
        var info = Run(["info", ck]);
        Assert.Equal(CliRunner.ExitDiverged, info.Code);
        Assert.Contains("query.weight", info.Err);
        var export = Run(["export", "--checkpoint", ck, "--out", dir["hf"]]);
        Assert.Equal(CliRunner.ExitDiverged, export.Code);
    }

    [Fact]
    public void NonFiniteMetricsAreWrittenAndReadBack()
    {
        using var dir = new TempDir();
        var log = new MetricsLog(dir.Path, 0);
        log.Add(new MetricRow { Step = 1, Loss = double.NaN, GradNorm = double.PositiveInfinity });
        log.Add(new MetricRow { Split = "validation", Step = 1, Loss = double.NaN, MlmLoss = double.NaN });
        var again = new MetricsLog(dir.Path, 10);
        Assert.Equal(2, again.Rows.Count);
        Assert.True(double.IsNaN(again.Rows[0].Loss));
        Assert.Equal(double.PositiveInfinity, again.Rows[0].GradNorm);
        Assert.Contains("\"NaN\"", File.ReadAllText(Path.Combine(dir.Path, MetricsLog.JsonlName)));
    }
}
