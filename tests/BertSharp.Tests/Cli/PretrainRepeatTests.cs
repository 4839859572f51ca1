using BertSharp.Cli;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cli;

/// <summary><c>pretrain --config RUN/run.json</c> repeats a run: the same settings in a new folder give the same
/// checkpoints; options beside it override, and contradict an existing folder as any rerun does.</summary>
[Collection("cli")]
public class PretrainRepeatTests
{
    [Fact]
    public void ConfigRunJsonRepeatsTheRunBitForBit()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);
        var a = Run(TinyPretrain(corpus, config, dir["a"]));
        Assert.True(a.Code == 0, a.Err + a.Out);
        string runJson = Path.Combine(dir["a"], "run.json");

        var b = Run(["pretrain", "--config", runJson, "--run-dir", dir["b"], "--threads", "1"]);
        Assert.True(b.Code == 0, b.Err + b.Out);
        Assert.Equal(File.ReadAllText(runJson), File.ReadAllText(Path.Combine(dir["b"], "run.json")));
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors", "trainer_state.json" })
            Assert.True(File.ReadAllBytes(Path.Combine(dir["a"], "checkpoints", "checkpoint-6", file))
                .AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["b"], "checkpoints", "checkpoint-6", file))), file);

        // Beside it, an option overrides the repeated setting (a new folder) ...
        var c = Run(["pretrain", "--config", runJson, "--run-dir", dir["c"], "--steps", "4", "--threads", "1"]);
        Assert.True(c.Code == 0, c.Err + c.Out);
        Assert.True(Directory.Exists(Path.Combine(dir["c"], "checkpoints", "checkpoint-4")));
        Assert.Contains("\"seq_length\": 32", File.ReadAllText(Path.Combine(dir["c"], "run.json")));
        // ... and contradicts an existing run folder like any rerun (exit 5), changing nothing.
        var conflict = Run(["pretrain", "--config", runJson, "--run-dir", dir["b"], "--seq-length", "16"]);
        Assert.Equal(CliRunner.ExitConflict, conflict.Code);
        Assert.Contains("--seq-length 16 (the run has 32)", conflict.Err);
        var again = Run(["pretrain", "--config", runJson, "--run-dir", dir["b"]]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("already finished", again.Err);
        // --preset beside a run.json: the model comes from one or the other.
        Assert.Equal(CliRunner.ExitUsage, Run(["pretrain", "--config", runJson, "--preset", "mini"]).Code);
    }
}
