using System.Text.Json;
using BertSharp.Runs;
using BertSharp.Tests.Model;
using BertSharp.Training;

namespace BertSharp.Tests.Runs;

/// <summary>The library's fine-tuning run, as a program that references the library uses it: the result, the
/// files, the progress lines, the kind of each error, and an interrupted run resumed to the same model.</summary>
public class FineTuningRunTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Lines : IProgress<string>
    {
        public List<string> All { get; } = [];
        public void Report(string value) => All.Add(value);
    }

    private sealed class CancelAt(long step, CancellationTokenSource cts) : ITrainerCallback
    {
        public void OnStep(in StepReport s) { if (s.Step == step) cts.Cancel(); }
    }

    /// <summary>A request on 64 short labelled texts (58 train, 6 held out), a tiny random model, 16 tokens.</summary>
    private FineTuningRequest Request(string output)
    {
        string data = Path.Combine(_dir, "d.jsonl"), vocab = Path.Combine(_dir, "vocab.txt");
        if (!File.Exists(data))
        {
            File.WriteAllLines(data, ClassifierTests.SentimentTexts(64, 9).Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
            File.WriteAllLines(vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "great", "fine", "bad", "awful", "poor",
                "the", "movie", "was", "plot", "acting", "and", "a", "i", "it"]);
        }
        return new FineTuningRequest
        {
            OutputDir = Path.Combine(_dir, output), Data = data, VocabPath = vocab, Preset = "tiny", MaxLength = 16,
            Epochs = 2, BatchSize = 16, LearningRate = 1e-3, LogEvery = 2, Seed = 5,
        };
    }

    [Fact]
    public void A_run_returns_its_epochs_and_writes_the_model_and_the_results()
    {
        var lines = new Lines();
        var r = new FineTuningRun(Request("ft")) { Progress = lines }.Run();
        Assert.False(r.Interrupted);
        Assert.Equal(["neg", "pos"], r.Labels);
        Assert.Equal((58, 6, 16), (r.TrainExamples, r.EvalExamples, r.MaxLength));
        Assert.Equal([1, 2], r.History.Select(h => h.Epoch));
        Assert.Equal(8, r.Step); // 4 updates of 16 per epoch
        Assert.Equal(r.History[^1].EvalAccuracy, r.FinalEvalAccuracy);
        Assert.Contains(lines.All, l => l.StartsWith("fine-tuning from random weights, preset tiny", StringComparison.Ordinal));
        Assert.Contains(lines.All, l => l.StartsWith("epoch 2 step 8/8", StringComparison.Ordinal));
        Assert.Equal(["neg", "pos"], BertSharp.IO.PretrainedModel.Load(r.OutputDir).Labels);
        var json = JsonDocument.Parse(File.ReadAllText(r.ResultsPath)).RootElement;
        string[] keys = ["origin", "data", "labels", "train_examples", "eval_examples", "max_length", "head_tokens", "truncated_share", "epochs",
            "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "group_by_length", "copy_positions", "seed", "threads", "config",
            "history", "final_eval_accuracy", "best_epoch", "best_eval_accuracy", "best_checkpoint", "early_stopped", "seconds"];
        Assert.Equal(keys, json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(r.History[^1].EvalAccuracy, json.GetProperty("history")[1].GetProperty("eval_accuracy").GetDouble());
        Assert.Equal(r.BestEpoch, json.GetProperty("best_epoch").GetInt32());
    }

    [Fact]
    public void Each_problem_is_a_library_error_of_its_kind()
    {
        ErrorKind KindOf(FineTuningRequest q) => Assert.Throws<BertSharpException>(() => new FineTuningRun(q).Run()).Kind;
        var q = Request("bad");
        Assert.Equal(ErrorKind.Usage, KindOf(q with { RandomInit = true }));
        Assert.Equal(ErrorKind.Usage, KindOf(q with { CopyPositions = 8 }));
        Assert.Equal(ErrorKind.Usage, KindOf(q with { VocabPath = null }));
        Assert.Equal(ErrorKind.Usage, KindOf(q with { MaxLength = 2 }));
        Assert.Equal(ErrorKind.Usage, KindOf(q with { Dropout = 1f }));
        Assert.Equal(ErrorKind.Usage, KindOf(q with { Epochs = 0 })); // an option value out of range, refused up front (issue 17)
        Assert.Equal(ErrorKind.BadInput, KindOf(q with { Data = Path.Combine(_dir, "missing.jsonl") }));
        Assert.Equal(ErrorKind.BadInput, KindOf(q with { Resume = true }));
        Assert.Equal(ErrorKind.BadInput, KindOf(q with { Model = Path.Combine(_dir, "no-model") }));
        Directory.CreateDirectory(q.OutputDir);
        File.WriteAllText(Path.Combine(q.OutputDir, "x"), "");
        Assert.Equal(ErrorKind.BadInput, KindOf(q));
    }

    [Fact]
    public void An_interrupted_run_resumed_gives_the_model_of_an_uninterrupted_one()
    {
        var straight = new FineTuningRun(Request("straight")).Run();

        using var cts = new CancellationTokenSource();
        var q = Request("split");
        var first = new FineTuningRun(q) { Callbacks = [new CancelAt(5, cts)] }.Run(cts.Token); // in epoch 2
        Assert.True(first.Interrupted);
        Assert.Equal(5, first.Step);
        Assert.False(File.Exists(first.ResultsPath));
        // Options that contradict the run are refused, as pretrain refuses them, and nothing is changed.
        var other = Assert.Throws<BertSharpException>(() => new FineTuningRun(q with { Resume = true, LearningRate = q.LearningRate * 2 }).Run());
        Assert.Equal(ErrorKind.Conflict, other.Kind);
        Assert.Contains("LearningRate 0.002 (the run has 0.001)", other.Message); // the property, as a program set it
        Assert.Contains(nameof(FineTuningRequest.LearningRate), other.Properties);
        var resumed = new FineTuningRun(q with { Resume = true }).Run();
        Assert.Equal(8, resumed.Step);
        // The epochs before the stop come back from the checkpoint: the record equals the uninterrupted run's.
        Assert.Equal([1, 2], resumed.History.Select(h => h.Epoch));
        Assert.Equal(straight.History.Select(h => (h.TrainLoss, h.TrainAccuracy, h.EvalLoss, h.EvalAccuracy)),
            resumed.History.Select(h => (h.TrainLoss, h.TrainAccuracy, h.EvalLoss, h.EvalAccuracy)));
        Assert.Equal(straight.FinalEvalAccuracy, resumed.FinalEvalAccuracy);
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight.OutputDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed.OutputDir, "model.safetensors")));
        Assert.Equal(ResultsWithoutTimes(straight.ResultsPath), ResultsWithoutTimes(resumed.ResultsPath));

        // A resume of the finished run is a no-op that keeps every file as it is.
        var before = Directory.EnumerateFiles(resumed.OutputDir, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        var again = new FineTuningRun(q with { Resume = true }).Run();
        Assert.True(again.AlreadyFinished);
        Assert.Equal(straight.FinalEvalAccuracy, again.FinalEvalAccuracy);
        var after = Directory.EnumerateFiles(resumed.OutputDir, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (f, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[f]), f);
    }

    /// <summary>finetune_results.json without its wall times (and the output folder, which differs by name).</summary>
    private static string ResultsWithoutTimes(string path)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o.Remove("seconds");
        o.Remove("best_checkpoint");
        foreach (var h in o["history"]!.AsArray()) { h!.AsObject().Remove("train_seconds"); h.AsObject().Remove("eval_seconds"); }
        return o.ToJsonString();
    }
}
