using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Runs;
using BertSharp.Tests.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

/// <summary>The one Trainer's features: callbacks with their figures, early stopping, best-model tracking,
/// cancellation, and both tasks (pretraining and fine-tuning, with a bit-exact fine-tuning resume).</summary>
[Collection("KernelThreads")]
public class TrainerFeatureTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Recorder : ITrainerCallback
    {
        public List<StepReport> Steps { get; } = [];
        public List<EvaluationReport> Evaluations { get; } = [];
        public List<CheckpointReport> Checkpoints { get; } = [];
        public List<TrainingReport> Ends { get; } = [];
        public Action<StepReport>? After { get; init; }
        public void OnStep(in StepReport step) { Steps.Add(step); After?.Invoke(step); }
        public void OnEvaluation(EvaluationReport evaluation) => Evaluations.Add(evaluation);
        public void OnCheckpoint(CheckpointReport checkpoint) => Checkpoints.Add(checkpoint);
        public void OnEnd(TrainingReport report) => Ends.Add(report);
    }

    private static Trainer Pretraining(TrainerOptions o)
    {
        var p = new BertParameters(TrainerTests.TinyConfig());
        p.Initialize(1);
        return new Trainer(new BertForPreTraining(p), new SyntheticPretrainingData(64, 4, 16, 3, 9, batchesPerEpoch: 7), o);
    }

    private static LearningRateSchedule Schedule(double lr = 2e-3, int total = 12) => new(ScheduleKind.Linear, lr, 2, total);

    [Fact]
    public void Callbacks_fire_in_order_with_the_step_evaluation_and_checkpoint_figures()
    {
        string dir = Path.Combine(_dir, "cb");
        var t = Pretraining(new TrainerOptions { Schedule = Schedule(), EvalEvery = 4, SaveEvery = 5, EvaluateAtStart = true, OutputDir = dir, KeepLast = 0, Seed = 3 });
        var r = new Recorder();
        t.Callbacks.Add(r);
        var report = t.Train();

        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), r.Steps.Select(s => s.Step));
        foreach (var s in r.Steps)
        {
            Assert.Equal(Schedule().At(s.Step), s.LearningRate);
            Assert.Equal(12, s.TotalSteps);
            Assert.Equal(4L * 16, s.Tokens);
            Assert.True(s.Metrics.MlmCount > 0 && s.Metrics.NspCount == 4 && s.GradNorm > 0 && double.IsFinite(s.Loss));
            Assert.Equal(s.Metrics.Loss, s.Loss); // one micro-batch: the mean is the batch's objective
            Assert.Equal((double)s.Position.Epoch, s.Epoch); // default EpochOf: whole epochs
        }
        Assert.Equal([0L, 4, 8, 12], r.Evaluations.Select(e => e.Step));
        Assert.All(r.Evaluations, e => Assert.True(e.IsPretraining && e.Loss == e.MlmLoss + e.NspLoss && double.IsNaN(e.LabelAccuracy)));
        Assert.Equal(t.Evaluate().Loss, r.Evaluations[^1].Loss); // the last evaluation is of the final parameters
        Assert.Equal([(5L, CheckpointReason.Periodic), (10L, CheckpointReason.Periodic), (12L, CheckpointReason.Final)],
            r.Checkpoints.Select(c => (c.Step, c.Reason)));
        Assert.All(r.Checkpoints, c => Assert.True(Directory.Exists(c.Folder)));
        var end = Assert.Single(r.Ends);
        Assert.Same(report, end);
        Assert.Equal((0L, 12L, false, false), (end.StartStep, end.Step, end.Interrupted, end.EarlyStopped));
        Assert.Equal(r.Checkpoints[^1].Folder, end.FinalCheckpoint);
        Assert.Same(r.Evaluations[^1], end.LastEvaluation);
        Assert.Equal([0L, 4, 8, 12], t.State.History.Select(h => h.Step)); // the evaluations, in trainer_state.json
    }

    [Fact]
    public void A_trainer_step_allocates_nothing_in_steady_state()
    {
        var t = Pretraining(new TrainerOptions { Schedule = Schedule(2e-3, 100), GradientAccumulationSteps = 2, Seed = 3 });
        for (int i = 0; i < 5; i++) t.TrainStep();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) t.TrainStep();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before); // accumulation, clipping, schedule, state: no garbage
    }

    [Fact]
    public void Early_stopping_ends_after_patience_evaluations_without_a_new_best()
    {
        // A rate so small that no parameter moves: every evaluation equals the first, which stays the best.
        var t = Pretraining(new TrainerOptions
        {
            Schedule = Schedule(1e-30, 40), EvalEvery = 2, Best = BestModelCriterion.LowestLoss, EarlyStoppingPatience = 2, Seed = 3,
        });
        var report = t.Train();
        Assert.True(report.EarlyStopped);
        Assert.True(report.Finished);
        Assert.Equal(6, report.Step);
        Assert.Equal(2, report.BestStep);
        Assert.Equal(2, t.State.EvaluationsSinceBest);
        // Without patience the same run goes to its end.
        Assert.Equal(40, Pretraining(new TrainerOptions { Schedule = Schedule(1e-30, 40), EvalEvery = 2, Best = BestModelCriterion.LowestLoss }).Train().Step);
    }

    [Fact]
    public void The_best_evaluation_is_tracked_and_its_checkpoint_kept_beside_the_newest()
    {
        string dir = Path.Combine(_dir, "best");
        var t = Pretraining(new TrainerOptions
        {
            Schedule = Schedule(3e-3, 16), EvalEvery = 2, SaveEvery = 1, KeepLast = 1, OutputDir = dir, Seed = 3,
            Best = new BestModelCriterion(ValidationMetric.Loss, HigherIsBetter: true), SaveBest = true, // the worst loss: an early step
        });
        var r = new Recorder();
        t.Callbacks.Add(r);
        var report = t.Train();
        var worst = r.Evaluations.MaxBy(e => e.Loss)!;
        Assert.Equal(worst.Step, report.BestStep);
        Assert.Equal(worst.Loss, report.BestValue);
        Assert.True(worst.IsBest);
        Assert.True(worst.Step < 16, $"best at {worst.Step}");
        Assert.Equal(Path.Combine(dir, Checkpoint.FolderName(worst.Step)), report.BestCheckpoint);
        Assert.Equal([worst.Step, 16], Checkpoint.List(dir).Select(c => c.Step)); // KeepLast 1 plus the best
        Assert.Contains(r.Checkpoints, c => c.Reason == CheckpointReason.Best && c.Step == worst.Step);
        var state = Checkpoint.LoadState(Path.Combine(dir, "checkpoint-16", "trainer_state.json"));
        Assert.Equal((worst.Step, "loss"), (state.BestStep!.Value, state.BestMetric));
    }

    [Fact]
    public void Cancelling_stops_after_the_current_update_with_a_checkpoint_and_resumes_exactly()
    {
        string dir = Path.Combine(_dir, "cancel");
        var o = new TrainerOptions { Schedule = Schedule(), EvalEvery = 4, OutputDir = dir, Seed = 3 };
        using var cts = new CancellationTokenSource();
        var t = Pretraining(o);
        var r = new Recorder { After = s => { if (s.Step == 3) cts.Cancel(); } };
        t.Callbacks.Add(r);
        var report = t.Train(cancel: cts.Token);
        Assert.True(report.Interrupted);
        Assert.False(report.Finished);
        Assert.Equal(3, report.Step);
        Assert.Equal(CheckpointReason.Interrupted, r.Checkpoints.Single().Reason);
        Assert.EndsWith("checkpoint-3", report.FinalCheckpoint);
        Assert.Single(r.Ends);

        var resumed = Trainer.Resume(report.FinalCheckpoint!, new SyntheticPretrainingData(64, 4, 16, 3, 9, batchesPerEpoch: 7), o);
        Assert.Equal(12, resumed.Train().Step);
        var straight = Pretraining(o);
        straight.Train();
        Assert.Equal(straight.Model.Parameters.Values.ToArray(), resumed.Model.Parameters.Values.ToArray());
    }

    private static Vocabulary WordVocab() => Vocabulary.FromTokens(Vocabulary.DefaultSpecialTokens
        .Concat(["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "was", "plot", "acting", "and", "a", "i", "it"]));

    private static BertForSequenceClassification Classifier(Vocabulary vocab)
    {
        var config = new BertConfig { VocabSize = vocab.Count, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32 };
        var p = new BertParameters(config);
        p.Initialize(1);
        return new BertForSequenceClassification(p.WithClassifier(["neg", "pos"], 2));
    }

    [Fact]
    public void The_same_trainer_fine_tunes_a_classifier_and_evaluates_its_labels()
    {
        var vocab = WordVocab();
        var train = ClassificationEncoder.EncodeAll(ClassifierTests.SentimentTexts(64, 1), vocab, true, 20);
        var eval = ClassificationEncoder.EncodeAll(ClassifierTests.SentimentTexts(30, 2), vocab, true, 20);
        var data = new ClassificationTrainingData(vocab, train, eval, 8, 16, 20, seed: 5);
        var model = Classifier(vocab);
        var before = model.Parameters.Values.ToArray();
        var t = new Trainer(model, data, new TrainerOptions { Schedule = Schedule(3e-3, 16), EvalEvery = 8, Best = BestModelCriterion.HighestLabelAccuracy });
        var r = new Recorder();
        t.Callbacks.Add(r);
        t.Train();
        Assert.All(r.Steps, s => Assert.True(s.Metrics.LabelCount == 8 && s.Metrics.MlmCount == 0 && double.IsFinite(s.LabelAccuracy)));
        Assert.Equal([8L, 16], r.Evaluations.Select(e => e.Step));
        Assert.All(r.Evaluations, e => Assert.True(!e.IsPretraining && e.Metrics.LabelCount == 30 && e.Loss == e.LabelLoss));
        Assert.Equal(new DataPosition(1, 8), data.Position); // 16 updates, 8 batches per epoch: the end of the second
        Assert.Equal(r.Evaluations.MaxBy(e => e.LabelAccuracy)!.Step, t.State.BestStep);
        // The classifier is trained; the pretraining heads, which the task does not use, are not.
        var layout = model.Parameters.Layout;
        var c = layout[BertParameterLayout.ClassifierWeight];
        Assert.NotEqual(before.AsSpan(c.Offset, c.Length).ToArray(), model.Parameters.Values.ToArray().AsSpan(c.Offset, c.Length).ToArray());
        var h = layout["cls.predictions.transform.dense.weight"];
        Assert.Equal(before.AsSpan(h.Offset, h.Length).ToArray(), model.Parameters.Values.ToArray().AsSpan(h.Offset, h.Length).ToArray());
    }

    [Fact]
    public void Fine_tuning_resumed_from_a_checkpoint_matches_an_uninterrupted_run_bit_for_bit()
    {
        var vocab = WordVocab();
        var train = ClassificationEncoder.EncodeAll(ClassifierTests.SentimentTexts(44, 3), vocab, true, 20);
        var eval = ClassificationEncoder.EncodeAll(ClassifierTests.SentimentTexts(12, 4), vocab, true, 20);
        var recipe = new FineTuningRecipe { Epochs = 3, BatchSize = 8, EvalBatchSize = 5, LearningRate = 2e-3, Seed = 11, GroupByLength = true, LengthGroupBatches = 2 };
        FineTuner Tuner(BertForSequenceClassification model, string dir, string? from = null, IReadOnlyList<ITrainerCallback>? callbacks = null) =>
            new(model, vocab, 20, recipe) { CheckpointDir = dir, CheckpointEvery = 4, ResumeFrom = from, Callbacks = callbacks ?? [] };
        var straightModel = Classifier(vocab);
        var straight = Tuner(straightModel, Path.Combine(_dir, "straight"));
        straight.Train(train, eval);

        using var cts = new CancellationTokenSource();
        var stopAt = new Recorder { After = s => { if (s.Step == 8) cts.Cancel(); } }; // mid-epoch 2 (6 batches per epoch)
        string dir = Path.Combine(_dir, "split");
        var first = Tuner(Classifier(vocab), dir, callbacks: [stopAt]);
        first.Train(train, eval, cts.Token);
        Assert.True(first.Report!.Interrupted);
        Assert.Equal(8, first.Report.Step);

        var resumedModel = Classifier(vocab);
        var resumed = Tuner(resumedModel, dir, first.Report.FinalCheckpoint);
        resumed.Train(train, eval);
        Assert.Equal(18, resumed.Report!.Step);
        Assert.Equal(straightModel.Parameters.Values.ToArray(), resumedModel.Parameters.Values.ToArray());
        Assert.Equal(straight.Trainer!.Optimizer.ExpAvg.ToArray(), resumed.Trainer!.Optimizer.ExpAvg.ToArray());
        Assert.Equal(straight.History[^1].EvalAccuracy, resumed.History[^1].EvalAccuracy);
        Assert.Equal(straight.Report!.BestStep, resumed.Report.BestStep);
    }
}

[Collection("KernelThreads")]
public class TrainerEdgeCaseTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Found in review: with no validation batches an evaluation had NaN figures, the history could not be
    /// written, and every checkpoint failed.</summary>
    [Fact]
    public void Training_without_validation_batches_skips_evaluation_and_still_checkpoints()
    {
        var p = new BertParameters(TrainerTests.TinyConfig());
        p.Initialize(1);
        var t = new Trainer(new BertForPreTraining(p), new SyntheticPretrainingData(64, 4, 16, 3, 9, batchesPerEpoch: 7, validationBatches: 0),
            new TrainerOptions { Schedule = new(ScheduleKind.Linear, 1e-3, 1, 4), EvalEvery = 2, OutputDir = Path.Combine(_dir, "nv"), Seed = 3 });
        var report = t.Train();
        Assert.Equal(4, report.Step);
        Assert.DoesNotContain(t.State.History, h => h.Split == "validation");
        Assert.NotNull(Checkpoint.Latest(Path.Combine(_dir, "nv")));
    }

    [Fact]
    public void A_non_finite_figure_in_the_history_is_written_and_read_back()
    {
        string dir = Path.Combine(_dir, "nan");
        var p = new BertParameters(TrainerTests.TinyConfig());
        p.Initialize(1);
        var state = new TrainerState { Step = 1 };
        state.History.Add(new MetricRecord(1, "validation", double.NaN, double.PositiveInfinity, 0, 0, 0, 1e-3));
        string folder = Checkpoint.Save(dir, p, null, null, state, null, 1);
        var back = Checkpoint.LoadState(Path.Combine(folder, "trainer_state.json"));
        Assert.True(double.IsNaN(back.History[0].Loss));
        Assert.True(double.IsPositiveInfinity(back.History[0].MlmLoss));
    }
}
