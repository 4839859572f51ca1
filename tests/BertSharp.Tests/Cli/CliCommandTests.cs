using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using BertSharp.Cli;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cli;

/// <summary>The model commands end to end, in-process, on tiny data: pretrain (every stage, the run folder),
/// evaluate, fill-mask, nsp, info; Ctrl+C then --resume; and each kind of bad input.</summary>
[Collection("cli")]
public class CliCommandTests
{
    [Fact]
    public void PretrainThenEveryCommandOnTheRun()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];

        var r = Run([.. TinyPretrain(corpus, config, run), "--dropout", "0"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("validation MLM accuracy", r.Out);
        Assert.Contains("always the majority label", r.Out); // NSP's chance level is measured, not assumed to be 50%
        Assert.Contains("\"hidden_dropout_prob\": 0,", File.ReadAllText(Path.Combine(run, "run.json")));
        Assert.Contains("run folder: " + Path.GetFullPath(run), r.Out);
        foreach (var f in new[] { "run.json", "vocab.txt", "metrics.jsonl", "metrics.csv", "curves.svg", "summary.md",
                     "checkpoints/checkpoint-6/model.safetensors", "checkpoints/checkpoint-6/optimizer.safetensors",
                     "checkpoints/checkpoint-6/tokenizer_config.json", "checkpoints/checkpoint-6/vocab.txt", "corpus/manifest.json" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        // metrics.csv: header, the step-0 evaluation, one row per step with validation at 3 and 6.
        var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.StartsWith("step,epoch,lr,loss,mlm_loss,nsp_loss,mlm_acc,nsp_acc,grad_norm,tokens_per_s,elapsed_s,val_loss", csv[0]);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6"], csv.Skip(1).Select(l => l.Split(',')[0]));
        int valLoss = Array.IndexOf(csv[0].Split(','), "val_loss");
        Assert.Equal([true, false, false, true, false, false, true], csv.Skip(1).Select(l => l.Split(',')[valLoss].Length > 0));
        Assert.All(csv.Skip(2), l => Assert.True(double.Parse(l.Split(',')[3], CultureInfo.InvariantCulture) > 0));
        var jsonl = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal(6, jsonl.Count(l => l.Contains("\"split\":\"train\"")));
        Assert.Equal(3, jsonl.Count(l => l.Contains("\"split\":\"validation\"")));
        var svg = XDocument.Load(Path.Combine(run, "curves.svg"));
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        Assert.True(svg.Descendants().Count(e => e.Name.LocalName == "polyline") >= 6);
        Assert.Contains("NSP accuracy", File.ReadAllText(Path.Combine(run, "summary.md")));
        Assert.Contains("majority label |", File.ReadAllText(Path.Combine(run, "summary.md")));

        // Rerunning a finished run keeps it and says so.
        var again = Run(TinyPretrain(corpus, config, run));
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("kept", again.Err);
        Assert.Contains("already finished", again.Err);

        var eval = Run(["evaluate", run, "--json"]);
        Assert.True(eval.Code == 0, eval.Err);
        using (var doc = JsonDocument.Parse(eval.Out))
        {
            Assert.Equal(6, doc.RootElement.GetProperty("step").GetInt64());
            double acc = doc.RootElement.GetProperty("nsp_accuracy").GetDouble();
            Assert.InRange(acc, 0, 1);
            Assert.InRange(doc.RootElement.GetProperty("nsp_majority_label_accuracy").GetDouble(), 0.5, 1);
            Assert.True(doc.RootElement.GetProperty("masked_tokens").GetInt64() > 0);
        }
        var evalText = Run(["evaluate", Path.Combine(run, "checkpoints", "checkpoint-6"), "--corpus", corpus]);
        Assert.True(evalText.Code == 0, evalText.Err);
        Assert.Contains("MLM accuracy", evalText.Out);
        Assert.Contains("80 documents", evalText.Out);

        var fill = Run(["fill-mask", run, "the story is set in a [MASK] town.", "--json", "--top-k", "4"]);
        Assert.True(fill.Code == 0, fill.Err);
        using (var doc = JsonDocument.Parse(fill.Out))
        {
            var masks = doc.RootElement[0].GetProperty("masks");
            Assert.Equal(1, masks.GetArrayLength());
            Assert.Equal(7, masks[0].GetProperty("position").GetInt32()); // [CLS] the story is set in a [MASK]
            var p = masks[0].GetProperty("predictions").EnumerateArray().Select(x => x.GetProperty("probability").GetDouble()).ToList();
            Assert.Equal(4, p.Count);
            Assert.Equal(p.OrderByDescending(x => x), p);
            Assert.True(p.Sum() <= 1.0 + 1e-6 && p[0] > 0);
        }
        var fillStdin = Run(["fill-mask", run], stdin: "i [MASK] every minute of it.\n\nnine out of [MASK].\n");
        Assert.True(fillStdin.Code == 0, fillStdin.Err);
        Assert.Equal(2, fillStdin.Out.Split('\n').Count(l => l.Contains("[MASK] 1")));
        Assert.Contains("[MASK] 1", fillStdin.Out);

        var nsp = Run(["nsp", run, "i watched the red river and it was superb.", "the story is set in a small town.", "--json"]);
        Assert.True(nsp.Code == 0, nsp.Err);
        using (var doc = JsonDocument.Parse(nsp.Out))
            Assert.InRange(doc.RootElement[0].GetProperty("is_next_probability").GetDouble(), 0, 1);
        File.WriteAllText(dir["pairs.tsv"], "a good film.\tnine out of ten.\nthe end.\ti loved it.\n");
        var nspFile = Run(["nsp", run, "--file", dir["pairs.tsv"]]);
        Assert.True(nspFile.Code == 0, nspFile.Err);
        Assert.Equal(2, nspFile.Out.Split('\n').Count(l => l.Contains("B follows A")));

        var info = Run(["info", run]);
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains("status: finished", info.Out);
        Assert.Contains("best validation loss", info.Out);
        var infoCk = Run(["info", Path.Combine(run, "checkpoints", "checkpoint-6")]);
        Assert.True(infoCk.Code == 0, infoCk.Err);
        Assert.Contains("step: 6 of 6", infoCk.Out);
        Assert.Contains("parameters:", infoCk.Out);
        Assert.Contains("threads:", Run(["info"]).Out);
    }

    [Fact]
    public void InitFromStartsPhaseTwoFromPhaseOnesWeights()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);
        var one = Run(TinyPretrain(corpus, config, dir["one"], seq: 16));
        Assert.True(one.Code == 0, one.Err + one.Out);
        string phase1 = Path.Combine(dir["one"], "checkpoints", "checkpoint-6");

        // Phase 2 at a longer length, with a learning rate so small that its 2 updates leave the weights as they were.
        string[] two = ["pretrain", "--corpus", corpus, "--init-from", dir["one"], "--run-dir", dir["two"], "--seq-length", "32",
            "--batch-size", "4", "--steps", "2", "--warmup", "1", "--lr", "1e-12", "--eval-every", "1", "--eval-batches", "2", "--threads", "1"];
        var r = Run(two);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("weights: from " + phase1, r.Err);
        Assert.Equal(File.ReadAllText(Path.Combine(dir["one"], "vocab.txt")), File.ReadAllText(Path.Combine(dir["two"], "vocab.txt")));
        var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["two"], "run.json"))).RootElement;
        Assert.Equal(phase1, settings.GetProperty("init_from").GetString());
        Assert.Equal(32, settings.GetProperty("seq_length").GetInt32());
        Assert.Contains("started from: `" + phase1 + "`", File.ReadAllText(Path.Combine(dir["two"], "summary.md")));
        string phase2 = Path.Combine(dir["two"], "checkpoints", "checkpoint-2");
        Assert.Equal(File.ReadAllText(Path.Combine(phase1, "config.json")), File.ReadAllText(Path.Combine(phase2, "config.json")));
        var w1 = BertSharp.IO.Checkpoint.LoadParameters(phase1).ToArray();
        var w2 = BertSharp.IO.Checkpoint.LoadParameters(phase2).ToArray();
        var random = new BertSharp.Model.BertParameters(BertSharp.IO.Checkpoint.LoadParameters(phase1).Config);
        random.Initialize(12345);
        Assert.True(w1.Zip(w2).Max(p => Math.Abs(p.First - p.Second)) < 1e-6, "phase 2 did not start from phase 1's weights");
        Assert.True(w1.Zip(random.Values.ToArray()).Max(p => Math.Abs(p.First - p.Second)) > 1e-3, "phase 1's weights are still the random ones");

        // Rerunning continues (same --init-from is no contradiction); a different one, or a model option beside it, is refused.
        Assert.Equal(0, Run(two).Code);
        var other = Run([.. two.Select(a => a == dir["one"] ? Path.Combine(dir["one"], "checkpoints", "checkpoint-3") : a)]);
        Assert.Equal(CliRunner.ExitConflict, other.Code);
        Assert.Contains("--init-from", other.Err);
        var withPreset = Run(["pretrain", "--corpus", corpus, "--init-from", dir["one"], "--preset", "mini", "--run-dir", dir["three"]]);
        Assert.Equal(CliRunner.ExitUsage, withPreset.Code);
        Assert.Contains("--init-from", withPreset.Err);
        var missing = Run(["pretrain", "--corpus", corpus, "--init-from", dir["nowhere"], "--run-dir", dir["four"]]);
        Assert.Equal(CliRunner.ExitBadInput, missing.Code);
        Assert.Contains("nowhere", missing.Err);

        // --copy-positions 16: the rows phase 1 never trained (16 on) start as copies of rows i mod 16; the rest as they were.
        string[] copied = [.. two.Select(a => a == dir["two"] ? dir["five"] : a), "--copy-positions", "16"];
        r = Run(copied);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("copied from positions 0-15", r.Err);
        Assert.Equal(16, JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["five"], "run.json"))).RootElement.GetProperty("copy_positions").GetInt32());
        var before = BertSharp.IO.Checkpoint.LoadParameters(phase1);
        var after = BertSharp.IO.Checkpoint.LoadParameters(Path.Combine(dir["five"], "checkpoints", "checkpoint-2"));
        const string pos = "bert.embeddings.position_embeddings.weight";
        int h = before.Config.HiddenSize, rows = before.Config.MaxPositionEmbeddings;
        Assert.True(rows > 16);
        for (int i = 0; i < rows; i++)
        {
            var expected = before.Value(pos).Slice(i % 16 * h, h).ToArray();
            var actual = after.Value(pos).Slice(i * h, h).ToArray();
            Assert.True(expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second)) < 1e-6, $"position {i}");
        }
        Assert.Equal(CliRunner.ExitConflict, Run([.. copied[..^1], "8"]).Code);
        // A rerun of the run folder alone with the same --copy-positions continues (it is compared, not refused).
        Assert.Equal(0, Run(["pretrain", "--run-dir", dir["five"], "--copy-positions", "16"]).Code);
        Assert.Equal(CliRunner.ExitConflict, Run(["pretrain", "--run-dir", dir["two"], "--copy-positions", "16"]).Code);
        var noInit = Run(["pretrain", "--corpus", corpus, "--copy-positions", "16", "--run-dir", dir["six"]]);
        Assert.Equal(CliRunner.ExitUsage, noInit.Code);
        Assert.Contains("--copy-positions: only with --init-from", noInit.Err);
    }

    [Fact]
    public void InterruptThenResumeEqualsAnUninterruptedRun()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);

        var whole = Run(TinyPretrain(corpus, config, dir["a"]));
        Assert.True(whole.Code == 0, whole.Err);

        using var cts = new CancellationTokenSource();
        var stopped = Run(TinyPretrain(corpus, config, dir["b"]), afterStep: step => { if (step == 4) cts.Cancel(); }, cancel: cts.Token);
        Assert.Equal(CliRunner.ExitInterrupted, stopped.Code);
        Assert.Contains("interrupted at step 4", stopped.Out);
        Assert.Contains("--resume", stopped.Out);
        Assert.True(Directory.Exists(Path.Combine(dir["b"], "checkpoints", "checkpoint-4")));
        Assert.False(Directory.Exists(Path.Combine(dir["b"], "checkpoints", "checkpoint-6")));

        var resumed = Run(["pretrain", "--run-dir", dir["b"], "--resume"]);
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Contains("resuming from", resumed.Err);
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors", "trainer_state.json" })
        {
            var a = File.ReadAllBytes(Path.Combine(dir["a"], "checkpoints", "checkpoint-6", file));
            var b = File.ReadAllBytes(Path.Combine(dir["b"], "checkpoints", "checkpoint-6", file));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{file} differs after interrupt + resume");
        }
        // The metrics read as one run: same steps, same losses and accuracies (times differ).
        static IEnumerable<string> Losses(string run) => File.ReadAllLines(Path.Combine(run, "metrics.csv"))
            .Select(l => l.Split(',')).Select(c => string.Join(',', c.Take(9).Concat(c.Skip(11))));
        Assert.Equal(Losses(dir["a"]), Losses(dir["b"]));
    }

    [Fact]
    public void BadInputGivesOneLineAndADocumentedExitCode()
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]), run = dir["run"];
        var ok = Run(TinyPretrain(corpus, config, run, steps: 3));
        Assert.True(ok.Code == 0, ok.Err);
        // A corrupt copy of the checkpoint: model.safetensors cut short.
        string corrupt = dir["corrupt"];
        Directory.CreateDirectory(corrupt);
        foreach (var f in Directory.GetFiles(Path.Combine(run, "checkpoints", "checkpoint-3"))) File.Copy(f, Path.Combine(corrupt, Path.GetFileName(f)));
        var bytes = File.ReadAllBytes(Path.Combine(corrupt, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(corrupt, "model.safetensors"), bytes[..(bytes.Length / 2)]);
        File.WriteAllText(dir["bad.json"], "{ not json");
        Directory.CreateDirectory(dir["empty"]);

        (string[] Args, int Code, string Message)[] cases =
        [
            (["pretrain", "--corpus", dir["missing.txt"], "--run-dir", dir["r1"]], CliRunner.ExitBadInput, "no such file"),
            (["pretrain", "--batch-size", "0", "--run-dir", dir["r2"]], CliRunner.ExitUsage, "--batch-size"),
            (["pretrain", "--seq-length", "abc"], CliRunner.ExitUsage, "abc"),
            (["pretrain", "--preset", "huge", "--run-dir", dir["r3"]], CliRunner.ExitUsage, "unknown model preset 'huge'"),
            (["pretrain", "--config", dir["bad.json"], "--run-dir", dir["r4"]], CliRunner.ExitBadInput, "not a valid BERT config.json"),
            (["pretrain", "--steps", "5", "--epochs", "1"], CliRunner.ExitUsage, "--steps and --epochs"),
            (["pretrain", "--run-dir", dir["empty"], "--resume"], CliRunner.ExitBadInput, "no checkpoint to resume from"),
            (TinyPretrain(corpus, config, run, steps: 3, seq: 16), CliRunner.ExitConflict, "--seq-length 16 (the run has 32)"),
            ([.. TinyPretrain(corpus, config, run, steps: 3), "--dropout", "0.3"], CliRunner.ExitConflict, "--dropout 0.3"),
            (["pretrain", "--dropout", "1.5", "--run-dir", dir["r5"]], CliRunner.ExitUsage, "--dropout: must be in [0, 1)"),
            (["fill-mask", corrupt, "a [MASK] film."], CliRunner.ExitBadCheckpoint, "model.safetensors"),
            (["fill-mask", dir["nowhere"], "a [MASK] film."], CliRunner.ExitBadInput, "no such checkpoint or run folder"),
            (["fill-mask", dir["empty"], "a [MASK] film."], CliRunner.ExitBadCheckpoint, "not a checkpoint"),
            (["fill-mask", run, "no mask here."], CliRunner.ExitBadInput, "no [MASK]"),
            (["fill-mask", run, "a [MASK] film.", "--top-k", "0"], CliRunner.ExitUsage, "--top-k"),
            (["nsp", run, "only one text"], CliRunner.ExitUsage, "exactly two texts"),
            // An option the command does not have is refused, not taken for a text.
            (["fill-mask", run, "a [MASK] film.", "--threads", "2"], CliRunner.ExitUsage, "--threads: not an option of fill-mask"),
            (["nsp", run, "--bogus", "b"], CliRunner.ExitUsage, "--bogus: not an option of nsp"),
            (["evaluate", corrupt], CliRunner.ExitBadCheckpoint, "model.safetensors"),
            (["info", corrupt], CliRunner.ExitBadCheckpoint, "model.safetensors"),
        ];
        foreach (var (args, code, message) in cases)
        {
            var r = Run(args);
            string what = string.Join(' ', args);
            Assert.True(r.Code == code, $"{what}: exit {r.Code}, expected {code}: {r.Err}");
            var lines = r.Err.Trim().Split('\n');
            Assert.True(lines.Count(l => l.StartsWith("error: ")) == 1 && lines[^1].StartsWith("error: ") && lines[^1].Contains(message),
                $"{what}: {r.Err}");
            Assert.DoesNotContain("   at ", r.Err); // no stack trace without --verbose
        }
        // The conflicting rerun changed nothing.
        Assert.Contains("\"seq_length\": 32", File.ReadAllText(Path.Combine(run, "run.json")));
        var verbose = Run(["fill-mask", corrupt, "a [MASK] film.", "--verbose"]);
        Assert.Equal(CliRunner.ExitBadCheckpoint, verbose.Code);
        Assert.Contains("   at ", verbose.Err);
    }
}
