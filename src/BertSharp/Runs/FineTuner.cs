using BertSharp.Files;
using System.Diagnostics;
using BertSharp.IO;
using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>
/// Fine-tuning with the one <see cref="Trainer"/>: epochs over the training examples in fresh seeded orders
/// (<see cref="ClassificationTrainingData"/>), one clipped AdamW update per batch at a linear warm-up/decay rate, the
/// evaluation set scored after every epoch, the best epoch by validation accuracy tracked (and checkpointed with
/// <see cref="CheckpointDir"/>), early stopping and resuming as the trainer does them. What it trains with is a
/// <see cref="FineTuningRecipe"/> (a <see cref="FineTuningRequest"/> is one); where it checkpoints, resumes from and
/// reports to are its own properties.
/// </summary>
public sealed class FineTuner
{
    private readonly BertForSequenceClassification _model;
    private readonly Vocabulary _vocab;
    private readonly FineTuningRecipe _o;
    private readonly int _maxLength;

    /// <param name="model">a model with a classifier head</param>
    /// <param name="vocab">the model's vocabulary</param>
    /// <param name="maxLength">longest row ([CLS] and [SEP] included)</param>
    /// <param name="recipe">how to fine-tune (checked: a <see cref="ErrorKind.Usage"/> error names the property out of range)</param>
    public FineTuner(BertForSequenceClassification model, Vocabulary vocab, int maxLength, FineTuningRecipe recipe)
    {
        recipe.Validate();
        if (model.NumLabels == 0) throw new ArgumentException("fine-tuning needs a model with a classifier head");
        (_model, _vocab, _o, _maxLength) = (model, vocab, recipe, maxLength);
    }

    /// <summary>Where checkpoints go (<c>checkpoint-STEP</c>: weights with the classifier, AdamW moments, trainer state); null: none.</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>Also checkpoint every N updates (0: at each epoch's best and at the end only).</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>Continue from this checkpoint (of the same model, data and recipe): bit-identical to an uninterrupted run.</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Progress lines (a training line every <see cref="FineTuningRecipe.LogEvery"/> updates and one per epoch).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>The ranks of a data-parallel run (null: one process); <see cref="FineTuningRecipe.BatchSize"/> stays global.</summary>
    public Distributed.ICommunicator? Communicator { get; init; }
    /// <summary>More callbacks of the trainer (a display, metrics files).</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; init; } = [];

    /// <summary>The trainer of the last <see cref="Train"/> (its optimiser, state and checkpoints).</summary>
    public Trainer? Trainer { get; private set; }
    /// <summary>What the last <see cref="Train"/> did (interrupted, stopped early, best epoch, checkpoints).</summary>
    public TrainingReport? Report { get; private set; }
    /// <summary>One entry per epoch finished by this fine-tuner.</summary>
    public List<EpochResult> History { get; } = new();

    /// <summary>The epoch history and the current epoch's running training figures, in each checkpoint folder.</summary>
    public const string HistoryFile = "finetune_history.json";

    /// <summary>Updates of a whole fine-tuning run over <paramref name="examples"/> training examples; more than an int
    /// (the schedule's count) is refused with <see cref="ArgumentException"/> naming <see cref="FineTuningRecipe.Epochs"/>.</summary>
    public static int TotalSteps(int examples, FineTuningRecipe o)
    {
        long batches = (examples + (long)o.BatchSize - 1) / o.BatchSize, steps = batches * o.Epochs;
        if (steps > int.MaxValue)
            throw new ArgumentException($"Epochs: {o.Epochs:N0} epochs of {batches:N0} batches are {steps:N0} updates, more than a run can count ({int.MaxValue:N0})", nameof(o.Epochs));
        return (int)steps;
    }

    /// <summary>Fine-tunes on <paramref name="train"/>, evaluating on <paramref name="eval"/> after each epoch. Cancelling
    /// stops after the current update (with a checkpoint when <see cref="CheckpointDir"/> is set; see <see cref="Report"/>).
    /// The one place the trainer's options derive from the recipe.</summary>
    public List<EpochResult> Train(IReadOnlyList<LabelledExample> train, IReadOnlyList<LabelledExample> eval, CancellationToken cancel = default)
    {
        if (CheckpointEvery < 0)
            throw new BertSharpException($"{nameof(CheckpointEvery)}: must be 0 (at each epoch's best and at the end only) or more, got {CheckpointEvery}", ErrorKind.Usage)
            { Properties = [nameof(CheckpointEvery)] };
        var data = new ClassificationTrainingData(_vocab, train, eval, _o.BatchSize, _o.EvalBatchSize, _maxLength, _o.Seed, _o.GroupByLength, _o.LengthGroupBatches);
        int total = TotalSteps(train.Count, _o);
        int warmup = (int)Math.Round(_o.WarmupRatio * total);
        var schedule = new LearningRateSchedule(ScheduleKind.Linear, _o.LearningRate, warmup, total);
        if (warmup >= total) schedule = schedule with { WarmupSteps = total - 1 };
        int perEpoch = data.BatchesPerEpoch;
        var recorder = new EpochRecorder(this, perEpoch, total, eval.Count);
        // A resumed run carries on the epochs and the running training figures its checkpoint recorded, so its history
        // equals an uninterrupted run's.
        if (ResumeFrom is { } resumed) recorder.Load(resumed);
        var options = new TrainerOptions
        {
            WriteCheckpointFiles = recorder.Save,
            Schedule = schedule, WeightDecay = _o.WeightDecay, MaxGradNorm = _o.MaxGradNorm, Seed = _o.Seed,
            EvalEvery = perEpoch, SaveEvery = CheckpointEvery, OutputDir = CheckpointDir, KeepLast = 2, Vocab = _vocab.Tokens,
            Best = BestModelCriterion.HighestLabelAccuracy, SaveBest = CheckpointDir is not null && eval.Count > 0,
            EarlyStoppingPatience = _o.EarlyStoppingPatience, Communicator = Communicator,
            EpochOf = p => p.Epoch + (double)p.Index / perEpoch,
        };
        // Buffers for the largest shape up front, so no step allocates.
        _model.Reserve(Math.Max(_o.BatchSize, _o.EvalBatchSize), _maxLength);
        var trainer = ResumeFrom is { } from ? Training.Trainer.Resume(from, _model, data, options) : new Trainer(_model, data, options);
        if (trainer.PrecisionChangedFrom is { } was)
            Log?.Invoke($"resuming from {ResumeFrom}: its steps so far ran in {was}, these run in {_model.Parameters.Device.Precision.Name()} (checkpoints are float32 in every precision)");
        trainer.Callbacks.Add(recorder);
        trainer.Callbacks.AddRange(Callbacks);
        Trainer = trainer;
        Report = trainer.Train(cancel: cancel);
        return History;
    }

    /// <summary>Turns the trainer's reports into <see cref="EpochResult"/>s and log lines.</summary>
    private sealed class EpochRecorder(FineTuner owner, int perEpoch, int total, int evalCount) : ITrainerCallback
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private double _lossSum;
        private long _correct, _seen;

        /// <summary>What a checkpoint records beside the trainer's state: the epochs so far and the running sums of the current one.</summary>
        private sealed record Saved(List<EpochResult> History, double LossSum, long Correct, long Seen);

        private static readonly System.Text.Json.JsonSerializerOptions Json = new()
        {
            PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };

        /// <summary>Writes <see cref="HistoryFile"/> into a checkpoint folder being written.</summary>
        public void Save(string folder) => AtomicFile.WriteAllText(Path.Combine(folder, HistoryFile),
            System.Text.Json.JsonSerializer.Serialize(new Saved(owner.History, _lossSum, _correct, _seen), Json) + "\n");

        /// <summary>Restores what <see cref="Save"/> wrote (a checkpoint of an older version has none: the history then starts at the resume).</summary>
        public void Load(string folder)
        {
            string path = Path.Combine(folder, HistoryFile);
            if (!File.Exists(path)) return;
            var saved = BertSharpException.Guard(() => System.Text.Json.JsonSerializer.Deserialize<Saved>(File.ReadAllText(path), Json), ErrorKind.BadCheckpoint, path)
                ?? throw new BertSharpException($"{path}: empty", ErrorKind.BadCheckpoint);
            if (saved.History is null || saved.Seen < 0 || saved.Correct < 0 || saved.Correct > saved.Seen || !double.IsFinite(saved.LossSum))
                throw new BertSharpException($"{path}: damaged (history, loss_sum, correct or seen out of range)", ErrorKind.BadCheckpoint);
            owner.History.Clear();
            owner.History.AddRange(saved.History);
            (_lossSum, _correct, _seen) = (saved.LossSum, saved.Correct, saved.Seen);
        }

        public void OnStep(in StepReport r)
        {
            _lossSum += r.Metrics.LabelLossSum;
            _correct += r.Metrics.LabelCorrect;
            _seen += r.Metrics.LabelCount;
            int epoch = (int)((r.Step - 1) / perEpoch) + 1;
            var o = owner._o;
            if (o.LogEvery > 0 && r.Step % o.LogEvery == 0)
                owner.Log?.Invoke($"epoch {epoch} step {r.Step}/{total} loss {_lossSum / _seen:F4} acc {(double)_correct / _seen:P1} |g| {r.GradNorm:F3} lr {r.LearningRate:E2} ({_clock.Elapsed.TotalSeconds:F0} s)");
        }

        public void OnEvaluation(EvaluationReport e)
        {
            if (e.Step == 0 || e.Step % perEpoch != 0) return;
            double trainSeconds = _clock.Elapsed.TotalSeconds - e.Seconds;
            var r = new EpochResult((int)(e.Step / perEpoch), e.Step, _lossSum / _seen, (double)_correct / _seen,
                evalCount > 0 ? e.LabelLoss : double.NaN, evalCount > 0 ? e.LabelAccuracy : double.NaN, trainSeconds, e.Seconds);
            owner.History.Add(r);
            owner.Log?.Invoke($"epoch {r.Epoch}: train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:P2} | eval loss {r.EvalLoss:F4} acc {r.EvalAccuracy:P2} ({evalCount} examples) | {r.TrainSeconds:F0} s train, {r.EvalSeconds:F0} s eval");
            (_lossSum, _correct, _seen) = (0, 0, 0);
            _clock.Restart();
        }
    }

    /// <summary>Loss and accuracy over <paramref name="examples"/> (dropout off) and each example's predicted label.</summary>
    public EvalResult Evaluate(IReadOnlyList<LabelledExample> examples)
    {
        var data = new ClassificationTrainingData(_vocab, examples.Count > 0 ? examples : [new LabelledExample([], -1, 0)], examples,
            1, _o.EvalBatchSize, _maxLength, _o.Seed);
        _model.Reserve(Math.Max(_o.BatchSize, _o.EvalBatchSize), _maxLength);
        var predictions = new int[examples.Count];
        var sum = new TaskMetrics();
        int labels = _model.NumLabels;
        var order = data.ValidationOrder;
        var logits = new float[_o.EvalBatchSize * labels]; // one host buffer for every batch's logits
        for (int v = 0, start = 0; v < data.ValidationBatchCount; v++, start += _o.EvalBatchSize)
        {
            var batch = data.ValidationBatch(v);
            sum.Add(_model.Forward(batch, DropoutContext.Off));
            _model.Device.CopyToHost<float>(_model.Logits, logits.AsSpan(0, batch.BatchSize * labels));
            for (int i = 0; i < batch.BatchSize; i++)
            {
                int best = 0;
                for (int k = 1; k < labels; k++) if (logits[i * labels + k] > logits[i * labels + best]) best = k;
                predictions[order[start + i]] = best;
            }
        }
        return new EvalResult(sum.LabelLoss, sum.LabelAccuracy, (int)sum.LabelCount, predictions);
    }
}
