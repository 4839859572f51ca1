using BertSharp.Files;
using System.Diagnostics;
using System.Text.Json;
using BertSharp.Cli;
using BertSharp.IO;
using BertSharp.Text;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Interface;

/// <summary>Issue 17, "never lose a run", the training side: finetune's output over its inputs and its checks before
/// training, a stop at step 0, stages left by a failed first attempt, one process per run folder, non-finite values.</summary>
[Collection("cli")]
public class RunSafetyTests
{
    private static string WriteLabelled(string path, int count = 40)
    {
        File.WriteAllLines(path, Model.ClassifierTests.SentimentTexts(count, 5)
            .Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        return path;
    }

    /// <summary><paramref name="args"/> with the value after <paramref name="option"/> replaced (or the option added).</summary>
    internal static string[] With(string[] args, string option, string value)
    {
        var list = args.ToList();
        int i = list.IndexOf(option);
        if (i >= 0) list[i + 1] = value;
        else list.AddRange([option, value]);
        return [.. list];
    }

    private static string[] Finetune(string model, string data, string output, params string[] more) =>
        ["finetune", "--model", model, "--data", data, "--out", output, "--epochs", "1", "--batch-size", "8", "--max-length", "16",
         "--log-every", "0", "--threads", "1", .. more];

    [Fact]
    public void FinetuneRefusesAnOutputThatIsContainsOrLiesInsideItsInputs()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        Directory.CreateDirectory(dir["data"]);
        string data = WriteLabelled(Path.Combine(dir["data"], "reviews.jsonl"));
        string checkpoint = Path.Combine(run, "checkpoints", "checkpoint-3");
        foreach (var output in new[] { run, Path.Combine(run, "checkpoints"), Path.Combine(checkpoint, "ft"), dir.Path, dir["data"] })
        {
            var r = Run(Finetune(run, data, output, "--force"));
            Assert.True(r.Code == CliRunner.ExitUsage, $"--out {output}: {r.Code} {r.Err}");
            Assert.Contains("--out", r.Err);
            Assert.DoesNotContain("epoch 1", r.Err); // refused before training
            Assert.True(File.Exists(Path.Combine(run, "run.json")), output);
            Assert.True(File.Exists(Path.Combine(checkpoint, "model.safetensors")), output);
            Assert.True(File.Exists(data), output);
        }
        Assert.Equal(0, Run(["info", run]).Code);
    }

    [Fact]
    public void FinetuneChecksItsOptionsAndOutputBeforeTrainingOrDeletingAnything()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        string data = WriteLabelled(dir["reviews.jsonl"]), ft = dir["ft"];
        var ok = Run(Finetune(run, data, ft));
        Assert.True(ok.Code == 0, ok.Err);
        Assert.True(Directory.Exists(Path.Combine(ft, "checkpoints")));

        (string Option, string Value)[] bad =
        [
            ("--epochs", "0"), ("--batch-size", "0"), ("--eval-batch-size", "0"), ("--lr", "0"), ("--warmup-ratio", "1"),
            ("--eval-fraction", "0.001"), ("--eval-fraction", "0"), ("--eval-fraction", "1"), ("--max-train", "-1"), ("--max-eval", "-2"),
            ("--log-every", "-1"), ("--early-stopping", "-1"), ("--threads", "-1"), ("--head-tokens", "15"), ("--max-length", "2"),
        ];
        foreach (var (option, value) in bad)
        {
            var r = Run(With(Finetune(run, data, ft, "--force"), option, value));
            Assert.True(r.Code == CliRunner.ExitUsage, $"{option} {value}: {r.Code} {r.Err}");
            Assert.Contains(option, r.Err);
            Assert.DoesNotContain("epoch 1", r.Err);
            // The earlier fine-tuning in --out is untouched: --force replaces it only once everything is checked.
            Assert.True(Directory.Exists(Path.Combine(ft, "checkpoints")), $"{option} {value}");
            Assert.True(File.Exists(Path.Combine(ft, "config.json")), $"{option} {value}");
        }
        // An --out that is a file is refused before training, not after.
        File.WriteAllText(dir["file"], "mine");
        var file = Run(Finetune(run, data, dir["file"], "--force"));
        Assert.Equal(CliRunner.ExitUsage, file.Code);
        Assert.DoesNotContain("epoch 1", file.Err);
        Assert.Equal("mine", File.ReadAllText(dir["file"]));
        // --json: one object with snake_case keys.
        var json = Run(Finetune(run, data, dir["ft2"], "--json"));
        Assert.True(json.Code == 0, json.Err);
        var o = JsonDocument.Parse(json.Out).RootElement;
        Assert.False(o.GetProperty("interrupted").GetBoolean());
        Assert.InRange(o.GetProperty("final_eval_accuracy").GetDouble(), 0, 1);
        // finetune_results.json: snake_case all the way down.
        string results = File.ReadAllText(Path.Combine(dir["ft2"], "finetune_results.json"));
        Assert.Contains("\"eval_accuracy\"", results);
        Assert.Contains("\"num_hidden_layers\"", results);
        Assert.DoesNotContain("\"EvalAccuracy\"", results);
    }

    [Theory]
    [InlineData("--steps", "0")]
    [InlineData("--steps", "-3")]
    [InlineData("--eval-every", "0")]
    [InlineData("--checkpoint-every", "0")]
    public void PretrainRefusesValuesThatTrainNothing(string option, string value)
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        var r = Run(With(TinyPretrain(corpus, config, run), option, value));
        Assert.True(r.Code == CliRunner.ExitUsage, $"{option} {value}: {r.Code} {r.Err}");
        Assert.Contains(option, r.Err);
        Assert.False(File.Exists(Path.Combine(run, "run.json")));
    }

    [Fact]
    public void AStopDuringTheFirstEvaluationLeavesARunThatThePrintedCommandResumes()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);
        var whole = Run(TinyPretrain(corpus, config, dir["a"]));
        Assert.True(whole.Code == 0, whole.Err);

        using var cts = new CancellationTokenSource();
        var stopped = Run(TinyPretrain(corpus, config, dir["b"]), afterEvaluation: step => { if (step == 0) cts.Cancel(); }, cancel: cts.Token);
        Assert.True(stopped.Code == CliRunner.ExitInterrupted, stopped.Err);
        Assert.Contains("interrupted at step 0", stopped.Out);
        var resume = ResumeCommand(stopped.Out);
        var resumed = Run(resume);
        Assert.True(resumed.Code == 0, string.Join(' ', resume) + ": " + resumed.Err);
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors", "trainer_state.json" })
            Assert.True(File.ReadAllBytes(Path.Combine(dir["a"], "checkpoints", "checkpoint-6", file))
                .AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["b"], "checkpoints", "checkpoint-6", file))), file);
    }

    [Fact]
    public void AStoppedFinetunePrintsTheCommandThatResumesIt()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        string data = WriteLabelled(dir["reviews.jsonl"]);
        var whole = Run(With(Finetune(run, data, dir["a"]), "--epochs", "2"));
        Assert.True(whole.Code == 0, whole.Err);
        using var cts = new CancellationTokenSource();
        var stopped = Run(With(Finetune(run, data, dir["b"]), "--epochs", "2"), afterStep: s => { if (s == 3) cts.Cancel(); }, cancel: cts.Token);
        Assert.True(stopped.Code == CliRunner.ExitInterrupted, stopped.Err);
        var resume = ResumeCommand(stopped.Out);
        Assert.Contains("--resume", resume);
        var resumed = Run(resume);
        Assert.True(resumed.Code == 0, string.Join(' ', resume) + ": " + resumed.Err);
        Assert.True(File.ReadAllBytes(Path.Combine(dir["a"], "model.safetensors")).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Path.Combine(dir["b"], "model.safetensors"))));
    }

    /// <summary>The arguments of the "resume with: bertsharp ..." line a stopped run printed.</summary>
    internal static string[] ResumeCommand(string output)
    {
        string line = output.Split('\n').Single(l => l.StartsWith("resume with: bertsharp "));
        string command = line["resume with: ".Length..];
        int aside = command.IndexOf("   (", StringComparison.Ordinal);
        if (aside > 0) command = command[..aside];
        return [.. InterfaceTests.ShellWords(command).Skip(1)];
    }

    [Fact]
    public void AVocabularyLeftByAFailedFirstAttemptIsReusedOnlyForTheSameCorpusAndSettings()
    {
        using var dir = new TempDir();
        string a = WriteCorpus(dir["a.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        string b = dir["b.txt"];
        File.WriteAllText(b, File.ReadAllText(a).Replace("watched", "enjoyed").Replace("story", "plot").Replace("acting", "cast")
            .Replace("music", "score").Replace("minute", "second").Replace("time", "money"));
        // The first attempt fails after the vocabulary and the store (a batch larger than an epoch).
        var failed = Run(With(TinyPretrain(a, config, run), "--batch-size", "100000"));
        Assert.Equal(CliRunner.ExitBadInput, failed.Code);
        Assert.True(File.Exists(Path.Combine(run, "vocab.txt")));
        Assert.False(File.Exists(Path.Combine(run, "run.json")));

        // Another corpus in the same folder: the vocabulary is made again, as in a fresh folder.
        var other = Run(TinyPretrain(b, config, run));
        Assert.True(other.Code == 0, other.Err);
        Assert.Contains("made again", other.Err);
        var fresh = Run(TinyPretrain(b, config, dir["fresh"]));
        Assert.True(fresh.Code == 0, fresh.Err);
        Assert.Equal(File.ReadAllText(Path.Combine(dir["fresh"], "vocab.txt")), File.ReadAllText(Path.Combine(run, "vocab.txt")));
        Assert.True(File.ReadAllBytes(Path.Combine(dir["fresh"], "checkpoints", "checkpoint-6", "model.safetensors"))
            .AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(run, "checkpoints", "checkpoint-6", "model.safetensors"))));

        // The same corpus and settings: the vocabulary of the failed attempt is kept.
        string run2 = dir["run2"];
        Assert.Equal(CliRunner.ExitBadInput, Run(With(TinyPretrain(a, config, run2), "--batch-size", "100000")).Code);
        var same = Run(TinyPretrain(a, config, run2));
        Assert.True(same.Code == 0, same.Err);
        Assert.Contains("same corpus and settings) kept", same.Err);
    }

    [Fact]
    public void ARebuiltStoreReplacesTheOldOneOnlyWhenComplete()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]);
        var vocab = WordPieceTrainer.Train(WordPieceTrainer.CountWords(CorpusReader.Open(corpus).ReadDocuments(), true, 1),
            new VocabularyTrainingOptions { VocabSize = 120, LowerCase = true, Threads = 1 });
        vocab.Save(dir["vocab.txt"]);
        string store = dir["store"];
        var first = CorpusTokenizer.Build(CorpusReader.Open(corpus), vocab, dir["vocab.txt"], store, new TokenizeOptions { Threads = 1 });
        // A rebuild with other settings, stopped before it completes.
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => CorpusTokenizer.Build(CorpusReader.Open(corpus), vocab, dir["vocab.txt"], store,
            new TokenizeOptions { LowerCase = false, Threads = 1, Replace = true }, null, cts.Token));
        Assert.True(TokenizedCorpusStore.IsComplete(store, out var kept));
        Assert.Equal(first.Manifest.BuildKey, kept!.BuildKey);
        Assert.Equal(["corpus.txt", "store", "vocab.txt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
        // Completed, the new store replaces the old one.
        // Without Replace, another build never replaces it (the output-safety rule).
        Assert.Throws<BertSharpException>(() => CorpusTokenizer.Build(CorpusReader.Open(corpus), vocab, dir["vocab.txt"], store, new TokenizeOptions { LowerCase = false, Threads = 1 }));
        var cased = CorpusTokenizer.Build(CorpusReader.Open(corpus), vocab, dir["vocab.txt"], store, new TokenizeOptions { LowerCase = false, Threads = 1, Replace = true });
        Assert.False(cased.Reused);
        Assert.True(TokenizedCorpusStore.IsComplete(store, out var now));
        Assert.Equal(cased.Manifest.BuildKey, now!.BuildKey);
        Assert.Equal(["corpus.txt", "store", "vocab.txt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void TemporaryEvaluationStoresOfKilledRunsAreCleanedAtTheNextEvaluation()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        int dead;
        using (var ended = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!) { ended.WaitForExit(); dead = ended.Id; }
        string leftover = Path.Combine(Path.GetTempPath(), $"{BertSharp.Pipelines.PretrainingEvaluator.TempPrefix}{dead}-0123456789ab");
        string live = Path.Combine(Path.GetTempPath(), $"{BertSharp.Pipelines.PretrainingEvaluator.TempPrefix}{Environment.ProcessId}-0123456789ab");
        Directory.CreateDirectory(Path.Combine(leftover, "corpus"));
        Directory.CreateDirectory(live);
        try
        {
            var r = Run(["evaluate", run, "--corpus", corpus]);
            Assert.True(r.Code == 0, r.Err);
            Assert.False(Directory.Exists(leftover));
            Assert.True(Directory.Exists(live)); // a running process's store is left alone
        }
        finally
        {
            if (Directory.Exists(leftover)) Directory.Delete(leftover, true);
            Directory.Delete(live, true);
        }
    }

    [Fact]
    public void PartialExtractionsOfKilledProcessesAreCleanedAtTheNextExtraction()
    {
        using var dir = new TempDir();
        Text.TextTestSupport.WriteTarGz(dir["a.tar.gz"], Text.TextTestSupport.TinyImdb());
        int dead;
        using (var ended = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!) { ended.WaitForExit(); dead = ended.Id; }
        string leftover = dir[$".out.extracting-{dead}"];
        Directory.CreateDirectory(Path.Combine(leftover, "aclImdb"));
        SafeTarExtractor.Extract(dir["a.tar.gz"], dir["out"]);
        Assert.False(Directory.Exists(leftover));
        Assert.Equal(["a.tar.gz", "out"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void ARunFolderIsUsedByOneProcessAtATime()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        using (RunLock.Acquire(run))
        {
            var busy = Run(TinyPretrain(corpus, config, run));
            Assert.True(busy.Code == CliRunner.ExitInUse, busy.Err);
            Assert.Contains($"in use by process {Environment.ProcessId}", busy.Err);
            Assert.Contains(RunLock.FileName, busy.Err);
            Assert.False(File.Exists(Path.Combine(run, "vocab.txt")));
        }
        // Released, the lock took the folder it made and nothing was written into (a refused command leaves none).
        Assert.False(Directory.Exists(run));
        Directory.CreateDirectory(run);
        // A lock left by a process that has ended is taken over.
        using (var ended = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            ended.WaitForExit();
            File.WriteAllText(Path.Combine(run, RunLock.FileName),
                JsonSerializer.Serialize(new { pid = ended.Id, host = Environment.MachineName, started_unix_ms = 1 }));
        }
        var r = Run(TinyPretrain(corpus, config, run));
        Assert.True(r.Code == 0, r.Err);
        Assert.False(File.Exists(Path.Combine(run, RunLock.FileName))); // released at the end
        // finetune locks its output folder the same way.
        string data = WriteLabelled(dir["reviews.jsonl"]);
        using (RunLock.Acquire(dir["ft"]))
        {
            var busy = Run(Finetune(run, data, dir["ft"]));
            Assert.True(busy.Code == CliRunner.ExitInUse, busy.Err);
        }
        Assert.True(RunLock.IsHeld(run) == false);
    }

    [Fact]
    public void ALearningRateBeyondFloatRangeIsExit6WithThePlaceNamed()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        var args = With(With(With(TinyPretrain(corpus, config, run), "--lr", "1e300"), "--steps", "2"), "--warmup", "1");
        var r = Run(args);
        Assert.True(r.Code == CliRunner.ExitDiverged, r.Err);
        Assert.Contains("learning rate", r.Err);
        // No checkpoint of non-finite weights was written.
        Assert.DoesNotContain(Checkpoint.List(Path.Combine(run, "checkpoints")), c => c.Step > 0);
    }
}

/// <summary>Issue 17, "one interface": number options in words, every option described, --json wherever results are
/// reported, snake_case JSON files (old trainer_state.json still read).</summary>
[Collection("cli")]
public class OneInterfaceTests
{
    private static IEnumerable<(string Path, System.CommandLine.Command Command)> Commands(System.CommandLine.Command c, string path)
    {
        yield return (path, c);
        foreach (var sub in c.Subcommands)
            foreach (var x in Commands(sub, (path + " " + sub.Name).Trim())) yield return x;
    }

    [Theory]
    [InlineData("pretrain", "--steps", "abc")]
    [InlineData("pretrain", "--lr", "fast")]
    [InlineData("finetune", "--epochs", "x", "--out", "o")]
    [InlineData("tokenizer", "train", "--vocab-size", "big", "--corpus", "c", "--out", "v")]
    [InlineData("fill-mask", "runs/x", "a [MASK].", "--top-k", "many")]
    public void ABadNumberSaysWhatTheValueShouldBeWithoutADotNetTypeName(params string[] args)
    {
        var r = Run(args);
        Assert.Equal(CliRunner.ExitUsage, r.Code);
        Assert.DoesNotContain("System.", r.Err);
        Assert.Matches("is not (a whole number|a number)", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void ALibraryParameterNameNeverReachesTheUser() =>
        Assert.Equal("ids: id 7 is outside the vocabulary", CliRunner.UserMessage("ids: id 7 is outside the vocabulary (Parameter 'ids')"));

    [Fact]
    public void EveryOptionIsDescribedAndHelpShowsVerboseAndNoDotNetType()
    {
        foreach (var (path, command) in Commands(CliRunner.CreateRoot(), ""))
        {
            foreach (var option in command.Options)
                if (option.Name is not ("--help" or "--version" or "-h" or "-?"))
                    Assert.False(string.IsNullOrWhiteSpace(option.Description), $"bertsharp {path} {option.Name}: no description");
            var help = Run([.. path.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--help"]);
            Assert.Equal(0, help.Code);
            Assert.DoesNotContain("System.", help.Out);
            Assert.Contains("--verbose", help.Out);
            Assert.DoesNotContain("(default", help.Out); // defaults are written one way: [default: ...]
        }
    }

    [Theory]
    [InlineData("info")]
    [InlineData("evaluate")]
    [InlineData("pretrain")]
    [InlineData("finetune")]
    [InlineData("tokenizer encode")]
    [InlineData("tokenizer train")]
    [InlineData("tokenize")]
    [InlineData("data imdb")]
    [InlineData("export")]
    [InlineData("import")]
    [InlineData("fill-mask")]
    [InlineData("nsp")]
    [InlineData("classify")]
    public void EveryCommandThatReportsResultsHasJson(string path)
    {
        var command = Commands(CliRunner.CreateRoot(), "").Single(c => c.Path == path).Command;
        Assert.Contains(command.Options, o => o.Name == "--json");
    }

    [Fact]
    public void JsonResultsOfARun()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        var pretrain = Run([.. TinyPretrain(corpus, config, run, steps: 3), "--json"]);
        Assert.True(pretrain.Code == 0, pretrain.Err);
        var p = JsonDocument.Parse(pretrain.Out).RootElement;
        Assert.Equal(3, p.GetProperty("step").GetInt64());
        Assert.InRange(p.GetProperty("validation").GetProperty("mlm_accuracy").GetDouble(), 0, 1);
        var info = JsonDocument.Parse(Run(["info", run, "--json"]).Out).RootElement;
        Assert.Equal(3, info.GetProperty("steps_saved").GetInt64());
        Assert.True(info.GetProperty("finished").GetBoolean());
        var ck = JsonDocument.Parse(Run(["info", Path.Combine(run, "checkpoints", "checkpoint-3"), "--json"]).Out).RootElement;
        Assert.Equal(3, ck.GetProperty("state").GetProperty("step").GetInt64());
        Assert.Equal(3, ck.GetProperty("state").GetProperty("total_steps").GetInt64());
        var export = Run(["export", "--checkpoint", run, "--out", dir["hf"], "--json"]);
        Assert.True(export.Code == 0, export.Err);
        Assert.Equal("BertForPreTraining", JsonDocument.Parse(export.Out).RootElement.GetProperty("architecture").GetString());
        var import = Run(["import", "--from", dir["hf"], "--out", dir["back"], "--json"]);
        Assert.True(import.Code == 0, import.Err);
        Assert.Equal(32, JsonDocument.Parse(import.Out).RootElement.GetProperty("hidden_size").GetInt32());
        var tokenize = Run(["tokenize", "--corpus", corpus, "--vocab", Path.Combine(run, "vocab.txt"), "--out", dir["tok"], "--json"]);
        Assert.True(tokenize.Code == 0, tokenize.Err);
        Assert.True(JsonDocument.Parse(tokenize.Out).RootElement.GetProperty("documents").GetInt64() > 0);
        // trainer_state.json: snake_case keys.
        string state = File.ReadAllText(Path.Combine(run, "checkpoints", "checkpoint-3", "trainer_state.json"));
        Assert.Contains("\"micro_step\"", state);
        Assert.Contains("\"dropout_seed\"", state);
        Assert.DoesNotContain("\"MicroStep\"", state);
    }

    [Fact]
    public void TheSameProblemIsTheSameExitCodeInEveryCommand()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        string corrupt = dir["corrupt"];
        Directory.CreateDirectory(corrupt);
        foreach (var f in Directory.GetFiles(Path.Combine(run, "checkpoints", "checkpoint-3"))) File.Copy(f, Path.Combine(corrupt, Path.GetFileName(f)));
        File.WriteAllBytes(Path.Combine(corrupt, "model.safetensors"), File.ReadAllBytes(Path.Combine(corrupt, "model.safetensors"))[..64]);
        string data = dir["reviews.jsonl"];
        File.WriteAllLines(data, Model.ClassifierTests.SentimentTexts(20, 3).Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        File.WriteAllText(dir["ids.json"], """{"input_ids": [[2, 5, 3]]}""");

        // A model that is missing, then one that is damaged, in every command that reads one.
        Func<string, string[]>[] readers =
        [
            m => ["info", m], m => ["fill-mask", m, "a [MASK] film."], m => ["nsp", m, "a film.", "the end."], m => ["evaluate", m],
            m => ["export", "--checkpoint", m, "--out", dir["x-export"]], m => ["import", "--from", m, "--out", dir["x-import"]],
            m => ["classify", "--model", m, "a film"], m => ["embed", "--model", m, "a film"], m => ["logits", m, dir["ids.json"]],
            m => ["finetune", "--model", m, "--data", data, "--out", dir["x-ft"]],
            m => ["pretrain", "--corpus", corpus, "--init-from", m, "--run-dir", dir["x-init"]],
        ];
        foreach (var (model, code) in new[] { (dir["nowhere"], CliRunner.ExitBadInput), (corrupt, CliRunner.ExitBadCheckpoint) })
            foreach (var make in readers)
            {
                var args = make(model);
                var r = Run(args);
                Assert.True(r.Code == code, $"{string.Join(' ', args)}: exit {r.Code}, expected {code}: {r.Err}");
            }
        // A corpus or data file that is missing, in every command that reads one.
        string missing = dir["missing.txt"];
        foreach (var args in new[]
        {
            new[] { "pretrain", "--corpus", missing, "--run-dir", dir["y1"] }, ["tokenize", "--corpus", missing, "--vocab", Path.Combine(run, "vocab.txt"), "--out", dir["y2"]],
            ["tokenizer", "train", "--corpus", missing, "--out", dir["y3.txt"]], ["finetune", "--model", run, "--data", missing, "--out", dir["y4"]],
            ["evaluate", run, "--corpus", missing], ["tokenizer", "encode", "--vocab", Path.Combine(run, "vocab.txt"), missing],
        })
        {
            var r = Run(args);
            Assert.True(r.Code == CliRunner.ExitBadInput, $"{string.Join(' ', args)}: exit {r.Code}: {r.Err}");
        }
    }

    [Fact]
    public void TheModelIsTheFirstArgumentOfEveryCommandThatReadsOne()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        string data = dir["reviews.jsonl"];
        File.WriteAllLines(data, Model.ClassifierTests.SentimentTexts(24, 3).Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        string[] tune = ["--data", data, "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--log-every", "0"];
        // The first argument, and the older option spelling, give the same result.
        foreach (var (positional, option) in new[]
        {
            (new[] { "export", run, "--out", dir["e1"] }, new[] { "export", "--checkpoint", run, "--out", dir["e2"] }),
            (["import", dir["e1"], "--out", dir["i1"]], ["import", "--from", dir["e1"], "--out", dir["i2"]]),
            (["finetune", run, "--out", dir["f1"], .. tune], ["finetune", "--model", run, "--out", dir["f2"], .. tune]),
            (["classify", dir["f1"], "a good movie"], ["classify", "--model", dir["f1"], "a good movie"]),
            (["embed", run, "a good movie"], ["embed", "--model", run, "a good movie"]),
        })
        {
            var a = Run(positional);
            var b = Run(option);
            Assert.True(a.Code == 0 && b.Code == 0, $"{string.Join(' ', positional)}: {a.Code} {a.Err} / {b.Code} {b.Err}");
            if (positional[0] is "classify" or "embed") Assert.Equal(b.Out, a.Out);
        }
        Assert.True(File.ReadAllBytes(Path.Combine(dir["f1"], "model.safetensors")).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["f2"], "model.safetensors"))));
        // Two different models, or none, are usage errors.
        Assert.Equal(CliRunner.ExitUsage, Run(["export", run, "--checkpoint", dir["e1"], "--out", dir["e3"]]).Code);
        Assert.Equal(CliRunner.ExitUsage, Run(["export", "--out", dir["e3"]]).Code);
        Assert.Equal(CliRunner.ExitUsage, Run(["classify"], stdin: "").Code);
    }

    [Fact]
    public void InitFromAModelWhoseVocabularyIsShorterThanItsVocabSizeKeepsItsShape()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(0, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);
        // A checkpoint whose vocab.txt holds fewer tokens than vocab_size (HF accepts it; every loader does).
        string init = dir["init"];
        Directory.CreateDirectory(init);
        foreach (var f in Directory.GetFiles(Path.Combine(run, "checkpoints", "checkpoint-3"))) File.Copy(f, Path.Combine(init, Path.GetFileName(f)));
        var tokens = File.ReadAllLines(Path.Combine(init, "vocab.txt"));
        File.WriteAllLines(Path.Combine(init, "vocab.txt"), tokens[..(tokens.Length - 10)]);
        Assert.Equal(0, Run(["info", init]).Code);
        var phase2 = Run(["pretrain", "--corpus", corpus, "--init-from", init, "--run-dir", dir["p2"], "--steps", "2", "--warmup", "0",
            "--seq-length", "32", "--batch-size", "4", "--eval-batches", "1", "--threads", "1"]);
        Assert.True(phase2.Code == 0, phase2.Err);
        var settings = RunSettings.Load(Path.Combine(dir["p2"], RunSettings.FileName));
        Assert.Equal(BertSharp.Model.BertConfig.Load(Path.Combine(init, "config.json")).VocabSize, settings.Model.VocabSize);
        // The same layout as the model it starts from: its weights are copied whole (before, the model shrank to the
        // vocabulary and the copy of the layout's prefix shifted every tensor after the word embeddings).
        var a = Checkpoint.LoadParameters(init);
        var b = new BertSharp.Model.BertParameters(settings.Model);
        Assert.Equal(a.Layout.Length, b.Layout.Length);
    }

    [Fact]
    public void AnOldPascalCaseTrainerStateStillLoads()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["trainer_state.json"], """
            {"Step": 12, "Epoch": 1, "MicroStep": 24, "LearningRate": 0.001, "Schedule": "cosine", "PeakLearningRate": 0.002,
             "WarmupSteps": 2, "TotalSteps": 40, "Seed": 7, "RngStates": {"dropout_seed": 7}, "DataPosition": 5,
             "History": [{"Step": 10, "Split": "validation", "Loss": "NaN", "MlmLoss": 1, "NspLoss": 0.5, "MlmAccuracy": 0.3, "NspAccuracy": 0.6, "LearningRate": 0.001}],
             "BestMetric": "loss", "BestStep": 10, "BestValue": 2.5}
            """);
        var s = Checkpoint.LoadState(dir["trainer_state.json"]);
        Assert.Equal((12L, 24L, 40, 5L, "cosine", 10L), (s.Step, s.MicroStep, s.TotalSteps, s.DataPosition, s.Schedule, s.BestStep!.Value));
        Assert.True(double.IsNaN(s.History[0].Loss));
        Assert.Equal(7UL, s.RngStates["dropout_seed"]);
    }
}

/// <summary>Issue 17's torture suite, one case per row of the README's exit-code table (1 is a bug, so it has none: no
/// case may produce it), and the table and the CLI's codes agreeing.</summary>
[Collection("cli")]
public class ExitCodeTableTests
{
    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    [Fact]
    public void TheReadmeTableListsEveryExitCode()
    {
        var rows = File.ReadAllLines(Path.Combine(RepoRoot(), "README.md"))
            .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^\| (\d+) \|")).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).ToList();
        int[] codes = [CliRunner.ExitOk, CliRunner.ExitFailure, CliRunner.ExitUsage, CliRunner.ExitBadInput, CliRunner.ExitBadCheckpoint,
            CliRunner.ExitConflict, CliRunner.ExitDiverged, CliRunner.ExitInUse, CliRunner.ExitInterrupted];
        Assert.Equal(codes, rows);
        foreach (var kind in Enum.GetValues<ErrorKind>())
            Assert.NotEqual(CliRunner.ExitFailure, CliRunner.ExitCode(new BertSharpException("x", kind)));
    }

    [Fact]
    public void OneCasePerRow()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        Assert.Equal(CliRunner.ExitOk, Run(TinyPretrain(corpus, config, run, steps: 3)).Code);                                   // 0
        Assert.Equal(CliRunner.ExitUsage, Run(["pretrain", "--steps", "0", "--run-dir", dir["r2"]]).Code);                          // 2
        Assert.Equal(CliRunner.ExitBadInput, Run(["pretrain", "--corpus", dir["missing.txt"], "--run-dir", dir["r3"]]).Code);      // 3
        string corrupt = Path.Combine(run, "checkpoints", "checkpoint-3", "model.safetensors");
        string copy = dir["copy"];
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(corrupt)!)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        File.WriteAllBytes(Path.Combine(copy, "model.safetensors"), File.ReadAllBytes(corrupt)[..100]);
        Assert.Equal(CliRunner.ExitBadCheckpoint, Run(["info", copy]).Code);                                                      // 4
        Assert.Equal(CliRunner.ExitConflict, Run(TinyPretrain(corpus, config, run, steps: 3, seq: 16)).Code);                     // 5
        var diverged = RunSafetyTests.With(RunSafetyTests.With(TinyPretrain(corpus, config, dir["r6"], steps: 2), "--lr", "1e300"), "--warmup", "1");
        Assert.Equal(CliRunner.ExitDiverged, Run(diverged).Code);                                                                 // 6
        using (RunLock.Acquire(dir["r7"]))
            Assert.Equal(CliRunner.ExitInUse, Run(TinyPretrain(corpus, config, dir["r7"])).Code);                                 // 7
        using var cts = new CancellationTokenSource();
        Assert.Equal(CliRunner.ExitInterrupted, Run(TinyPretrain(corpus, config, dir["r8"]), afterStep: s => { if (s == 2) cts.Cancel(); }, cancel: cts.Token).Code); // 130
    }
}
