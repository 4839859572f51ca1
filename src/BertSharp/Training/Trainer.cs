using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Training;

public sealed class TrainerOptions
{
    public LearningRateSchedule Schedule { get; init; } = new(ScheduleKind.Linear, 1e-4, 100, 10_000);
    /// <summary>Micro-batches per optimiser update (effective batch = batch × this).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;
    public float WeightDecay { get; init; } = 0.01f;
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Epsilon { get; init; } = 1e-6f;
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Seed of the dropout masks (counter-based: seed + micro-step + site).</summary>
    public ulong Seed { get; init; } = 12345;
    /// <summary>Evaluate every N updates (0: never during <see cref="Trainer.Train"/>).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Save a checkpoint every N updates (0: only at the end).</summary>
    public int SaveEvery { get; init; }
    public int KeepLast { get; init; } = 3;
    public string? OutputDir { get; init; }
    public IReadOnlyList<string>? Vocab { get; init; }
    public Action<string>? Log { get; init; }

    public void Validate()
    {
        Schedule.Validate();
        if (GradientAccumulationSteps < 1) throw new ArgumentException($"gradient accumulation steps must be >= 1, got {GradientAccumulationSteps}");
        if (MaxGradNorm < 0 || double.IsNaN(MaxGradNorm)) throw new ArgumentException($"max grad norm must be >= 0, got {MaxGradNorm}");
        if (WeightDecay < 0) throw new ArgumentException($"weight decay must be >= 0, got {WeightDecay}");
    }
}

/// <summary>The run stopped because the loss or the gradient norm stopped being finite.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>Result of one optimiser update (averages over its micro-batches).</summary>
public readonly record struct StepResult(long Step, double Loss, double MlmLoss, double NspLoss, double MlmAccuracy,
    double NspAccuracy, double GradNorm, double LearningRate);

/// <summary>
/// The pretraining loop (nanoGPT-style, linear and explicit): per update, accumulate the gradients of
/// <see cref="TrainerOptions.GradientAccumulationSteps"/> micro-batches (each scaled by 1/steps), clip the global
/// norm, AdamW at the scheduled rate; evaluate and checkpoint every N updates. A non-finite loss or gradient
/// norm stops the run before the update is applied, so the last checkpoint on disk stays the last good one.
/// Everything a resumed run needs (parameters, moments, step counters, dropout seed, data position) is in the
/// checkpoint, and since dropout masks are counter-based, a resumed run is bit-identical to an uninterrupted one.
/// </summary>
public sealed class Trainer
{
    private readonly ITrainingData _data;
    private readonly TrainerOptions _o;

    public BertForPreTraining Model { get; }
    public AdamWOptimizer Optimizer { get; }
    public TrainerState State { get; }
    public string? LastCheckpoint { get; private set; }

    public Trainer(BertForPreTraining model, ITrainingData data, TrainerOptions options, TrainerState? resumeFrom = null)
    {
        options.Validate();
        Model = model;
        _data = data;
        _o = options;
        Optimizer = new AdamWOptimizer(model)
        {
            Beta1 = options.Beta1, Beta2 = options.Beta2, Epsilon = options.Epsilon,
            WeightDecay = options.WeightDecay, MaxGradNorm = options.MaxGradNorm,
        };
        State = resumeFrom ?? new TrainerState
        {
            Seed = options.Seed,
            Schedule = options.Schedule.Kind.ToString().ToLowerInvariant(),
            PeakLearningRate = options.Schedule.PeakLearningRate,
            WarmupSteps = options.Schedule.WarmupSteps,
            TotalSteps = options.Schedule.TotalSteps,
        };
        State.RngStates["dropout_seed"] = State.Seed;
        Optimizer.StepCount = (int)State.Step;
        if (resumeFrom is not null) _data.Seek(new DataPosition(resumeFrom.Epoch, resumeFrom.DataPosition));
    }

    /// <summary>Continues a run from a checkpoint folder: parameters, AdamW moments, counters and data position.</summary>
    public static Trainer Resume(string checkpointFolder, ITrainingData data, TrainerOptions options, Device? device = null)
    {
        var parameters = Checkpoint.LoadParameters(checkpointFolder, device);
        var state = Checkpoint.LoadState(Path.Combine(checkpointFolder, "trainer_state.json"));
        var model = new BertForPreTraining(parameters);
        var t = new Trainer(model, data, options, state);
        Checkpoint.LoadOptimizer(Path.Combine(checkpointFolder, "optimizer.safetensors"), parameters.Layout, t.Optimizer.ExpAvg, t.Optimizer.ExpAvgSq);
        t.LastCheckpoint = checkpointFolder;
        return t;
    }

    private ulong DropoutSeed => State.Seed;

    /// <summary>One optimiser update.</summary>
    public StepResult TrainStep()
    {
        var p = Model.Parameters;
        p.ZeroGradients();
        int accum = _o.GradientAccumulationSteps;
        var sum = new TaskMetrics();
        for (int micro = 0; micro < accum; micro++)
        {
            var batch = _data.NextTrainingBatch();
            var d = new DropoutContext(true, DropoutSeed, (ulong)State.MicroStep);
            var o = Model.Forward(batch, d);
            State.MicroStep++;
            if (!double.IsFinite(o.Loss))
                throw Diverged($"loss is {o.Loss} (MLM {o.MlmLoss}, NSP {o.NspLoss})");
            Model.Backward(1f / accum);
            sum.Add(o);
        }
        double lr = _o.Schedule.At(State.Step + 1);
        double norm = Optimizer.Step(lr);
        if (!double.IsFinite(norm)) throw Diverged($"gradient norm is {norm}");
        State.Step++;
        State.LearningRate = lr;
        var pos = _data.Position;
        (State.Epoch, State.DataPosition) = ((int)pos.Epoch, pos.Index);
        return new StepResult(State.Step, sum.Loss / accum, sum.MlmLoss, sum.NspLoss, sum.MlmAccuracy, sum.NspAccuracy, norm, lr);
    }

    private TrainingDivergedException Diverged(string what) =>
        new($"training stopped at step {State.Step + 1}: {what}; parameters were not updated" +
            (LastCheckpoint is null ? " (no checkpoint written yet)" : $"; last good checkpoint: {LastCheckpoint}"));

    /// <summary>Loss and accuracies over the validation batches, dropout off (weighted by real predictions).</summary>
    public MetricRecord Evaluate()
    {
        var sum = new TaskMetrics();
        for (int i = 0; i < _data.ValidationBatchCount; i++)
            sum.Add(Model.Forward(_data.ValidationBatch(i), DropoutContext.Off));
        return new MetricRecord(State.Step, "validation", sum.MlmLoss + sum.NspLoss, sum.MlmLoss, sum.NspLoss,
            sum.MlmAccuracy, sum.NspAccuracy, State.LearningRate);
    }

    public string SaveCheckpoint()
    {
        if (_o.OutputDir is null) throw new InvalidOperationException("no output directory set for checkpoints");
        LastCheckpoint = Checkpoint.Save(_o.OutputDir, Model.Parameters, Optimizer.ExpAvg, Optimizer.ExpAvgSq, State, _o.Vocab, _o.KeepLast);
        return LastCheckpoint;
    }

    /// <summary>Runs updates until <paramref name="untilStep"/> (or the schedule's total), evaluating and saving as configured.</summary>
    public void Train(long? untilStep = null)
    {
        long end = untilStep ?? _o.Schedule.TotalSteps;
        while (State.Step < end)
        {
            var r = TrainStep();
            State.History.Add(new MetricRecord(r.Step, "train", r.Loss, r.MlmLoss, r.NspLoss, r.MlmAccuracy, r.NspAccuracy, r.LearningRate));
            _o.Log?.Invoke($"step {r.Step} loss {r.Loss:F4} (mlm {r.MlmLoss:F4} nsp {r.NspLoss:F4}) mlm_acc {r.MlmAccuracy:P1} nsp_acc {r.NspAccuracy:P1} |g| {r.GradNorm:F3} lr {r.LearningRate:E2}");
            if (_o.EvalEvery > 0 && r.Step % _o.EvalEvery == 0)
            {
                var e = Evaluate();
                State.History.Add(e);
                _o.Log?.Invoke($"eval step {e.Step}: loss {e.Loss:F4} mlm_acc {e.MlmAccuracy:P1} nsp_acc {e.NspAccuracy:P1} mlm_ppl {Math.Exp(e.MlmLoss):F2}");
            }
            if (_o.OutputDir is not null && _o.SaveEvery > 0 && r.Step % _o.SaveEvery == 0) SaveCheckpoint();
        }
        if (_o.OutputDir is not null && (LastCheckpoint is null || Path.GetFileName(LastCheckpoint) != Checkpoint.FolderName(State.Step))) SaveCheckpoint();
    }
}
