using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Cli;
using BertSharp.Files;
using BertSharp.IO;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Interface;

/// <summary>Issue 25, item 3: a full disk at lock time, the values that used to end in exit 1 (a bug), step counts no
/// run can mean, damaged trainer states, and pretrain --json on the path that stops before training: each gets the
/// README's exit code and a line naming the option, field or problem.</summary>
[Collection("cli")]
public sealed class RefusedInputTests
{
    /// <summary>Simulated with a 64 KiB tmpfs filled to the last byte (mounted by the test; skipped where it cannot be).</summary>
    [NeedsTmpfsFact]
    public void AFullDiskAtLockTimeIsExit3NamingTheSpaceAndLeavesNoLock()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), full = dir["full"];
        Assert.Null(NeedsTmpfsFactAttribute.Mount(full, 64));
        try
        {
            using (var fill = File.Create(Path.Combine(full, "fill")))
                try { fill.Write(new byte[1 << 20]); } catch (IOException) { } // to the last byte
            var r = Run(TinyPretrain(corpus, config, Path.Combine(full, "run")));
            Assert.True(r.Code == CliRunner.ExitBadInput, $"{r.Code}: {r.Err}");
            Assert.Contains("no space left", r.Err);
            Assert.DoesNotContain("in use", r.Err);
            Assert.Equal(["fill"], Directory.GetFileSystemEntries(full).Select(Path.GetFileName)); // no lock, no empty run folder
            // The library says the same to a program, and leaves an existing folder without a lock.
            Directory.CreateDirectory(Path.Combine(full, "mine"));
            var e = Assert.Throws<BertSharpException>(() => RunLock.Acquire(Path.Combine(full, "mine")));
            Assert.Equal(ErrorKind.BadInput, e.Kind);
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(full, "mine")));
        }
        finally { NeedsTmpfsFactAttribute.Unmount(full); }
        // A disk without room for one more folder (here: no inode left): the run folder cannot even be made.
        Assert.Null(NeedsTmpfsFactAttribute.Mount(full, 64, inodes: 2));
        try
        {
            File.WriteAllText(Path.Combine(full, "fill"), ""); // the last inode
            var r = Run(TinyPretrain(corpus, config, Path.Combine(full, "a", "run")));
            Assert.True(r.Code == CliRunner.ExitBadInput, $"{r.Code}: {r.Err}");
            Assert.Contains("no space left", r.Err);
            Assert.Equal(["fill"], Directory.GetFileSystemEntries(full).Select(Path.GetFileName));
        }
        finally { NeedsTmpfsFactAttribute.Unmount(full); }
    }

    [Fact]
    public void TheValuesThatEndedInExit1GetTheReadmesCodes()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);
        // A batch no array can hold: a usage error before anything is made.
        var r = Run(RunSafetyTests.With(TinyPretrain(corpus, config, dir["a"]), "--batch-size", "100000000"));
        Assert.True(r.Code == CliRunner.ExitUsage, $"{r.Code}: {r.Err}");
        Assert.Contains("--batch-size", r.Err);
        Assert.False(Directory.Exists(dir["a"]));
        // A batch larger than the corpus: refused before a batch is allocated, naming the option.
        r = Run(RunSafetyTests.With(TinyPretrain(corpus, config, dir["b"]), "--batch-size", "10000000"));
        Assert.True(r.Code == CliRunner.ExitBadInput, $"{r.Code}: {r.Err}");
        Assert.Contains("--batch-size", r.Err);
        // The largest vocabulary size means "as many tokens as the corpus gives".
        r = Run(["tokenizer", "train", "--corpus", corpus, "--out", dir["v.txt"], "--vocab-size", "2147483647", "--threads", "1"]);
        Assert.True(r.Code == 0, $"{r.Code}: {r.Err}");
        Assert.Contains("asked for 2,147,483,647", r.Err);
        r = Run([.. TinyPretrain(corpus, config, dir["c"], steps: 3), "--vocab-size", "2147483647"]);
        Assert.True(r.Code == 0, $"{r.Code}: {r.Err}");
        // A trainer state whose history is null: the checkpoint is damaged (exit 4), the field named.
        string state = Path.Combine(dir["c"], "checkpoints", "checkpoint-3", "trainer_state.json");
        var o = JsonNode.Parse(File.ReadAllText(state))!.AsObject();
        o["history"] = null;
        File.WriteAllText(state, o.ToJsonString());
        r = Run([.. TinyPretrain(corpus, config, dir["c"], steps: 3), "--vocab-size", "2147483647"]);
        Assert.True(r.Code == CliRunner.ExitBadCheckpoint, $"{r.Code}: {r.Err}");
        Assert.Contains("'history' is null", r.Err);
    }

    [Theory]
    [InlineData("1e300", false)] // more passes than a run counts: refused before anything is made
    [InlineData("1e9", true)]    // fewer passes, but more updates than a run counts: refused once the epoch's size is known
    public void PretrainRefusesMoreStepsThanARunCanMean(string epochs, bool stagesKept)
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        var args = TinyPretrain(corpus, config, run).ToList();
        int at = args.IndexOf("--steps");
        args.RemoveRange(at, 2);
        args.RemoveRange(args.IndexOf("--warmup"), 2);
        var r = Run([.. args, "--epochs", epochs]);
        Assert.True(r.Code == CliRunner.ExitUsage, $"{r.Code}: {r.Err}");
        Assert.Contains("--epochs", r.Err);
        Assert.Contains("more", r.Err);
        Assert.Equal(stagesKept, Directory.Exists(run));
        Assert.False(File.Exists(Path.Combine(run, RunSettings.FileName)));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoints")));
    }

    [Fact]
    public void FinetuneRefusesMoreUpdatesThanARunCanCount()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        File.WriteAllLines(dir["data.jsonl"], BertSharp.Tests.Model.ClassifierTests.SentimentTexts(40, 5)
            .Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        var r = Run(["finetune", run, "--data", dir["data.jsonl"], "--out", dir["ft"], "--epochs", "2147483647", "--batch-size", "1",
            "--max-length", "16", "--threads", "1"]);
        Assert.True(r.Code == CliRunner.ExitUsage, $"{r.Code}: {r.Err}");
        Assert.Contains("--epochs", r.Err);
        Assert.False(Directory.Exists(dir["ft"]));
    }

    [Fact]
    public void ALibraryCallerIsToldWhichPropertyMakesTooManyUpdates()
    {
        var e = Assert.Throws<ArgumentException>(() => BertSharp.Runs.FineTuner.TotalSteps(1000, new BertSharp.Runs.FineTuningRecipe { Epochs = int.MaxValue, BatchSize = 1 }));
        Assert.Equal("Epochs", e.ParamName);
        Assert.Equal(3000, BertSharp.Runs.FineTuner.TotalSteps(1000, new BertSharp.Runs.FineTuningRecipe { Epochs = 3, BatchSize = 1 }));
    }

    /// <summary>Each damage to a checkpoint's trainer_state.json, as JSON edits.</summary>
    public static TheoryData<string, string, string?> Damages() => new()
    {
        { "step", "missing", null },
        { "history", "null", "null" },
        { "step", "wrong type", "\"three\"" },
        { "step", "negative", "-1" },
        { "micro_step", "negative", "-5" },
        { "total_steps", "not whole", "1.5" },
        { "learning_rate", "NaN", "\"NaN\"" },
        { "peak_learning_rate", "infinite", "\"Infinity\"" },
        { "rng_states", "wrong type", "[1, 2]" },
        { "data_position", "negative", "-7" },
        { "history", "an entry without a step", "[{\"split\": \"validation\"}]" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void ADamagedTrainerStateIsExit4NamingTheField(string field, string damage, string? value)
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        string state = Path.Combine(run, "checkpoints", "checkpoint-3", "trainer_state.json");
        var o = JsonNode.Parse(File.ReadAllText(state))!.AsObject();
        if (value is null) o.Remove(field);
        else o[field] = JsonNode.Parse(value);
        File.WriteAllText(state, o.ToJsonString());
        // A longer run continues from it: refused, not resumed, not reported as a divergence.
        var r = Run(TinyPretrain(corpus, config, run, steps: 3));
        Assert.True(r.Code == CliRunner.ExitBadCheckpoint, $"{field} {damage}: {r.Code}: {r.Err}");
        Assert.Contains($"'{field}'", r.Err);
        Assert.Contains("trainer_state.json", r.Err);
        Assert.DoesNotContain("diverged", r.Err);
        Assert.DoesNotContain("training stopped", r.Err);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadState(state));
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void PretrainJsonStaysJsonWhenStoppedBeforeTrainingAndOnErrors()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);
        // Stopped before the first step (here before the vocabulary is counted): one JSON object, exit 130.
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        var r = Run([.. TinyPretrain(corpus, config, dir["run"]), "--json"], cancel: stopped.Token);
        Assert.True(r.Code == CliRunner.ExitInterrupted, $"{r.Code}: {r.Err}");
        using (var doc = JsonDocument.Parse(r.Out))
        {
            Assert.True(doc.RootElement.GetProperty("interrupted").GetBoolean());
            Assert.False(doc.RootElement.GetProperty("training_started").GetBoolean());
            Assert.Equal(Path.GetFullPath(dir["run"]), doc.RootElement.GetProperty("run_folder").GetString());
        }
        // Errors are one line on standard error, as for every command; standard output holds nothing that is not JSON.
        r = Run([.. TinyPretrain(dir["missing.txt"], config, dir["run2"]), "--json"]);
        Assert.Equal(CliRunner.ExitBadInput, r.Code);
        Assert.Equal("", r.Out);
        // A finished run: one JSON object.
        r = Run([.. TinyPretrain(corpus, config, dir["run3"], steps: 3), "--json"]);
        Assert.True(r.Code == 0, r.Err);
        using (var doc = JsonDocument.Parse(r.Out)) Assert.True(doc.RootElement.GetProperty("training_started").GetBoolean());
    }
}
