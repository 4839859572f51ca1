using System.Text.Json;
using BertSharp.Cli;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Runs;

/// <summary>
/// <c>pretrain --teacher</c> end to end, in-process on tiny data: the teacher recorded in run.json and its terms in
/// metrics.jsonl; an interrupted and resumed distilled run equal to an uninterrupted one byte for byte; and the refusals: a
/// teacher of another vocabulary (before any work, exit 2), distillation options without a teacher, a resumed run given
/// another teacher, or whose teacher's weights changed (exit 5).
/// </summary>
[Collection("cli")]
public class PretrainingDistillationRunTests
{
    /// <summary>The student: one layer of the teacher's width (so the cosine term applies).</summary>
    private static string WriteStudentConfig(string path)
    {
        File.WriteAllText(path, """
            {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 128}
            """);
        return path;
    }

    private static void Succeeds(Result r) => Assert.True(r.Code == 0, r.Err + r.Out);

    [Fact]
    public void A_distilled_run_interrupted_and_resumed_equals_an_uninterrupted_one()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), student = WriteStudentConfig(dir["student.json"]);
        Succeeds(Run(TinyPretrain(corpus, config, dir["teacher"])));
        string[] Distil(string runDir) => [.. TinyPretrain(corpus, student, runDir), "--teacher", dir["teacher"], "--alpha-cos", "2"];

        var whole = Run(Distil(dir["a"]));
        Succeeds(whole);
        Assert.Contains("vocabulary: ", whole.Err);
        Assert.Contains("from the teacher", whole.Err);
        Assert.Contains("+ 2 x cosine of the last hidden states", whole.Err);
        using (var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["a"], "run.json"))))
        {
            var t = run.RootElement.GetProperty("teacher");
            Assert.Equal(Path.Combine(dir["teacher"], "checkpoints", "checkpoint-6"), t.GetProperty("path").GetString());
            Assert.Equal(64, t.GetProperty("sha256").GetString()!.Length);
            Assert.Equal(5, t.GetProperty("alpha_soft").GetDouble());
            Assert.Equal(2, t.GetProperty("alpha_cos").GetDouble());
        }
        Assert.Equal(File.ReadAllText(Path.Combine(dir["teacher"], "vocab.txt")), File.ReadAllText(Path.Combine(dir["a"], "vocab.txt")));
        string summary = File.ReadAllText(Path.Combine(dir["a"], "summary.md"));
        Assert.Contains("- teacher: `" + Path.Combine(dir["teacher"], "checkpoints", "checkpoint-6") + "`", summary);
        Assert.Contains("| soft-target loss", summary);
        var rows = File.ReadAllLines(Path.Combine(dir["a"], "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(rows, r => Assert.True(r.GetProperty("soft_loss").GetDouble() > 0 && r.GetProperty("cos_loss").GetDouble() > 0));
        // Without a teacher, a run's metrics have no such figures (and its run.json no teacher).
        Assert.DoesNotContain("soft_loss", File.ReadAllText(Path.Combine(dir["teacher"], "metrics.jsonl")));
        Assert.DoesNotContain("\"teacher\"", File.ReadAllText(Path.Combine(dir["teacher"], "run.json")));

        using var cts = new CancellationTokenSource();
        var stopped = Run(Distil(dir["b"]), afterStep: step => { if (step == 4) cts.Cancel(); }, cancel: cts.Token);
        Assert.Equal(CliRunner.ExitInterrupted, stopped.Code);
        // Resumed without repeating --teacher: the run's own, from run.json.
        var resumed = Run(["pretrain", "--run-dir", dir["b"], "--resume", "--threads", "1"]);
        Succeeds(resumed);
        Assert.Contains("resuming from", resumed.Err);
        Assert.Contains("teacher: ", resumed.Err);
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors", "trainer_state.json" })
        {
            var a = File.ReadAllBytes(Path.Combine(dir["a"], "checkpoints", "checkpoint-6", file));
            var b = File.ReadAllBytes(Path.Combine(dir["b"], "checkpoints", "checkpoint-6", file));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{file} differs after interrupt + resume");
        }
        static IEnumerable<string> Figures(string run) => File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
            .Select(l => System.Text.RegularExpressions.Regex.Replace(l, "\"(tokens_per_s|elapsed_s)\":[^,}]*", ""));
        Assert.Equal(Figures(dir["a"]), Figures(dir["b"]));

        // The same student without a teacher trains to other weights: the teacher made a difference.
        Succeeds(Run(["pretrain", "--corpus", corpus, "--config", student, "--run-dir", dir["plain"], "--seq-length", "32", "--batch-size", "4",
            "--steps", "6", "--warmup", "2", "--lr", "2e-3", "--eval-every", "3", "--checkpoint-every", "3", "--eval-batches", "2", "--threads", "1",
            "--vocab-size", "120"]));
        Assert.False(File.ReadAllBytes(Path.Combine(dir["a"], "checkpoints", "checkpoint-6", "model.safetensors")).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Path.Combine(dir["plain"], "checkpoints", "checkpoint-6", "model.safetensors"))));
    }

    [Fact]
    public void A_teacher_that_does_not_fit_or_does_not_match_the_run_is_refused()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), student = WriteStudentConfig(dir["student.json"]);
        Succeeds(Run(TinyPretrain(corpus, config, dir["teacher"], steps: 3)));
        Succeeds(Run([.. TinyPretrain(corpus, config, dir["other"], steps: 3), "--dropout", "0.2"]));
        // A model that reads text otherwise (cased).
        Succeeds(Run([.. TinyPretrain(corpus, config, dir["cased"], steps: 3), "--cased"]));
        string[] NoConfig(string runDir, int steps = 3) // the model from --init-from
        {
            var args = TinyPretrain(corpus, config, runDir, steps).ToList();
            args.RemoveRange(args.IndexOf("--config"), 2);
            return [.. args];
        }

        // Refused before any work (exit 2, one line, no run folder made).
        (string[] Args, string Message)[] usage =
        [
            ([.. NoConfig(dir["r1"]), "--init-from", dir["cased"], "--teacher", dir["teacher"]], "error: --teacher " + dir["teacher"] + ": its vocabulary ("),
            ([.. TinyPretrain(corpus, student, dir["r2"]), "--teacher", dir["teacher"], "--vocab-size", "100"], "error: --teacher: the student reads the teacher's vocabulary and casing; leave out --vocab-size and --cased"),
            ([.. TinyPretrain(corpus, student, dir["r3"]), "--alpha-soft", "3", "--temperature", "4"], "error: --temperature, --alpha-soft: only with --teacher"),
            ([.. TinyPretrain(corpus, student, dir["r4"]), "--teacher", dir["teacher"], "--alpha-soft", "0", "--alpha-mlm", "0", "--alpha-nsp", "0", "--alpha-cos", "0"],
                "error: --alpha-soft, --alpha-mlm, --alpha-nsp and --alpha-cos are all 0: nothing to train on"),
            ([.. TinyPretrain(corpus, student, dir["r5"]), "--teacher", dir["teacher"], "--temperature", "0"], "error: --temperature: must be positive, got 0"),
            ([.. TinyPretrain(corpus, student, dir["r6"], seq: 96), "--teacher", dir["teacher"]], "error: --seq-length: 96 exceeds the teacher's max_position_embeddings of 64"),
        ];
        foreach (var (args, message) in usage)
        {
            var r = Run(args);
            Assert.True(r.Code == CliRunner.ExitUsage, $"{string.Join(' ', args)}: exit {r.Code}\n{r.Err}");
            var errors = r.Err.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
            Assert.Single(errors);
            Assert.StartsWith(message, errors[0]);
            if (args.Contains("--init-from")) Assert.Contains("cased tokens", errors[0]);
            Assert.False(Directory.Exists(args[Array.IndexOf(args, "--run-dir") + 1]), $"{message}: the run folder was made");
        }
        var teacherMissing = Run([.. TinyPretrain(corpus, student, dir["r7"]), "--teacher", dir["nowhere"]]);
        Assert.Equal(CliRunner.ExitBadInput, teacherMissing.Code);
        Assert.Contains("error: --teacher: " + dir["nowhere"] + ": no such checkpoint or run folder", teacherMissing.Err);

        // The same vocabulary from --init-from is accepted (here: self-distillation of the teacher's own weights).
        Succeeds(Run([.. NoConfig(dir["self"]), "--init-from", dir["teacher"], "--teacher", dir["teacher"]]));

        // An existing run: another teacher, a teacher where it had none, other weights contradict it (exit 5).
        string[] Distil(string runDir) => [.. TinyPretrain(corpus, student, runDir, steps: 3), "--teacher", dir["teacher"]];
        Succeeds(Run(Distil(dir["d"])));
        Succeeds(Run(TinyPretrain(corpus, student, dir["p"], steps: 3)));
        (string[] Args, string Message)[] conflicts =
        [
            ([.. TinyPretrain(corpus, student, dir["d"], steps: 3), "--teacher", dir["other"]], "--teacher " + dir["other"] + " (other weights than the run's teacher"),
            ([.. TinyPretrain(corpus, student, dir["p"], steps: 3), "--teacher", dir["teacher"]], "--teacher " + dir["teacher"] + " (the run has no teacher)"),
            ([.. Distil(dir["d"]), "--alpha-cos", "3"], "--alpha-cos 3 (the run has 1)"),
        ];
        foreach (var (args, message) in conflicts)
        {
            var r = Run(args);
            Assert.True(r.Code == CliRunner.ExitConflict, $"{string.Join(' ', args)}: exit {r.Code}\n{r.Err}");
            Assert.Contains(message, r.Err);
        }
        // The same teacher again, or none, continues the run.
        Succeeds(Run([.. Distil(dir["d"])]));
        Succeeds(Run(["pretrain", "--run-dir", dir["d"]]));

        // A teacher folder whose weights changed since the run started (the other model copied over it) is another teacher.
        CopyFolder(dir["teacher"], dir["copy"]);
        Succeeds(Run([.. TinyPretrain(corpus, student, dir["c"], steps: 3), "--teacher", dir["copy"]]));
        foreach (var f in Directory.GetFiles(Path.Combine(dir["other"], "checkpoints", "checkpoint-3")))
            File.Copy(f, Path.Combine(dir["copy"], "checkpoints", "checkpoint-3", Path.GetFileName(f)), overwrite: true);
        var changed = Run(["pretrain", "--run-dir", dir["c"], "--steps", "3"]);
        Assert.Equal(CliRunner.ExitConflict, changed.Code);
        Assert.Contains("other weights than the run's teacher", changed.Err);
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(d.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, f.Replace(from, to));
    }
}
