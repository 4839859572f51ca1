using System.Diagnostics;
using BertSharp.Data;
using BertSharp.Distributed;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Training;

/// <summary>
/// The one training loop, for pretraining and fine-tuning alike (nanoGPT-style, linear and explicit): per update,
/// accumulate the gradients of <see cref="TrainerOptions.GradientAccumulationSteps"/> micro-batches (each scaled by
/// 1/steps), clip the global norm, AdamW at the scheduled rate; evaluate, track the best model, checkpoint and stop
/// early as configured, telling <see cref="Callbacks"/> about each. A non-finite loss or gradient norm
/// stops the run before the update is applied, so the last checkpoint on disk stays the last good one.
/// Everything a resumed run needs (parameters, moments, step counters, dropout seed, data position, best model) is in
/// the checkpoint, and since dropout masks are counter-based, a resumed run is bit-identical to an uninterrupted one.
/// A step allocates nothing (beyond what the callbacks do).
/// <para>Data parallel (<see cref="TrainerOptions.Communicator"/> of several ranks): every rank reads the same global
/// batches and runs its own slice of rows; the statistics are summed first, so that each slice's backward takes its
/// share of the global batch's mean losses, then the gradients are summed and every rank applies the same update.
/// The run consumes exactly the items of a single-process run and, dropout included, computes the same update up
/// to the order of the sums. Validation batches are shared out among the ranks. Rank 0 alone writes checkpoints.</para>
/// </summary>
public sealed class Trainer
{
    private readonly ITrainingData _data;
    private readonly TrainerOptions _o;
    private readonly ICommunicator _comm;
    private BertBatch? _slice;                             // this rank's rows of the global batch (data parallel)
    private readonly double[] _stats = new double[14];     // a micro-batch's sums and counts, summed over the ranks
    private readonly double[] _flag = new double[1];       // "stop": any rank's cancellation, summed over the ranks

    /// <summary>The model being trained.</summary>
    public ITrainableModel Model { get; }
    /// <summary>AdamW over <see cref="ITrainableModel.Parameters"/>.</summary>
    public AdamWOptimizer Optimizer { get; }
    /// <summary>Counters, schedule, data position, best model and evaluation history (trainer_state.json).</summary>
    public TrainerState State { get; }
    /// <summary>Told about every step, evaluation, checkpoint and the end of <see cref="Train"/>, in order.</summary>
    public List<ITrainerCallback> Callbacks { get; } = [];
    /// <summary>The precision the resumed checkpoint was trained in when it differs from this trainer's (the device's
    /// <see cref="Device.Precision"/>); null otherwise.</summary>
    public string? PrecisionChangedFrom { get; }
    /// <summary>The newest checkpoint this trainer wrote or resumed from.</summary>
    public string? LastCheckpoint { get; private set; }

    /// <param name="model">what to train</param>
    /// <param name="data">training batches and validation batches</param>
    /// <param name="options">how to train</param>
    /// <param name="resumeFrom">the state of a checkpoint to continue from (the data is moved to its position)</param>
    public Trainer(ITrainableModel model, ITrainingData data, TrainerOptions options, TrainerState? resumeFrom = null)
    {
        options.Validate();
        Model = model;
        _data = data;
        _o = options;
        _comm = options.Communicator ?? SingleProcess.Instance;
        Optimizer = CreateOptimizer(model, options);
        State = resumeFrom ?? new TrainerState
        {
            Seed = options.Seed,
            Schedule = options.Schedule.Kind.ToString().ToLowerInvariant(),
            PeakLearningRate = options.Schedule.PeakLearningRate,
            WarmupSteps = options.Schedule.WarmupSteps,
            TotalSteps = options.Schedule.TotalSteps,
        };
        State.RngStates["dropout_seed"] = State.Seed;
        string precision = model.Parameters.Device.Precision.Name();
        if (resumeFrom is not null && (resumeFrom.Precision ?? "fp32") != precision) PrecisionChangedFrom = resumeFrom.Precision ?? "fp32";
        State.Precision = precision;
        if (options.Best is { } best)
        {
            // A resumed run judged by another metric starts its best-model record afresh (values are not comparable).
            if (State.BestMetric is not null && State.BestMetric != best.Name)
                (State.BestStep, State.BestValue, State.EvaluationsSinceBest) = (null, null, 0);
            State.BestMetric = best.Name;
        }
        Optimizer.StepCount = (int)State.Step;
        // A checkpoint of step 0 (a run stopped during its first evaluation) records no position yet (-1): the start.
        if (resumeFrom is not null) _data.Seek(new DataPosition(resumeFrom.Epoch, Math.Max(0, resumeFrom.DataPosition)));
        else (State.Epoch, State.DataPosition) = ((int)_data.Position.Epoch, _data.Position.Index);
    }

    /// <summary>The one place the optimiser is made: one AdamW over the parameter groups the model's task trains.</summary>
    private static AdamWOptimizer CreateOptimizer(ITrainableModel model, TrainerOptions o) =>
        new(model)
        {
            Beta1 = o.Beta1, Beta2 = o.Beta2, Epsilon = o.Epsilon, WeightDecay = o.WeightDecay, MaxGradNorm = o.MaxGradNorm,
        };

    /// <summary>Continues a pretraining run from a checkpoint folder: parameters, AdamW moments, counters and data position.</summary>
    public static Trainer Resume(string checkpointFolder, ITrainingData data, TrainerOptions options, Device? device = null)
    {
        // The shape from config.json; Resume below reads the weights (once).
        string configPath = Path.Combine(checkpointFolder, "config.json");
        var model = new BertForPreTraining(new BertParameters(BertConfig.Load(configPath), Checkpoint.ReadLabels(configPath), device));
        return Resume(checkpointFolder, model, data, options);
    }

    /// <summary>Continues a run of <paramref name="model"/> (of the checkpoint's shape) from a checkpoint folder: its
    /// weights are read into the model's parameters, then the AdamW moments, counters and data position.</summary>
    public static Trainer Resume(string checkpointFolder, ITrainableModel model, ITrainingData data, TrainerOptions options)
    {
        if (!Directory.Exists(checkpointFolder)) throw new DirectoryNotFoundException($"{checkpointFolder}: checkpoint folder not found");
        Checkpoint.LoadModel(Path.Combine(checkpointFolder, "model.safetensors"), model.Parameters);
        var state = Checkpoint.LoadState(Path.Combine(checkpointFolder, "trainer_state.json"));
        var t = new Trainer(model, data, options, state);
        Checkpoint.LoadOptimizer(Path.Combine(checkpointFolder, "optimizer.safetensors"), model.Parameters.Layout, t.Optimizer.ExpAvg, t.Optimizer.ExpAvgSq);
        t.LastCheckpoint = checkpointFolder;
        return t;
    }

    /// <summary>One optimiser update; tells the callbacks.</summary>
    /// <exception cref="TrainingDivergedException">the loss, gradient norm or learning rate is not finite (nothing was updated)</exception>
    public StepReport TrainStep()
    {
        long t0 = Stopwatch.GetTimestamp();
        var p = Model.Parameters;
        p.ZeroGradients();
        int accum = _o.GradientAccumulationSteps;
        var sum = new TaskMetrics();
        long tokens = 0;
        for (int micro = 0; micro < accum; micro++)
        {
            var batch = _data.NextTrainingBatch();
            var (local, first) = Slice(batch);
            var d = new DropoutContext(true, State.Seed, (ulong)State.MicroStep, first);
            var o = local is null ? Model.EmptyPass : Model.Forward(local, d);
            State.MicroStep++;
            if (_comm.Size > 1) o = AllReduce(o);
            if (!double.IsFinite(o.Loss))
                throw Diverged(o.MlmCount + o.NspCount > 0 ? $"loss is {o.Loss} (MLM {o.MlmLoss}, NSP {o.NspLoss})" : $"loss is {o.Loss}");
            // Each slice's mean losses are taken over the global counts: the ranks' gradients then add up to the global one.
            if (local is not null) Model.Backward(1f / accum, o);
            sum.Add(o);
            tokens += (long)batch.BatchSize * batch.SeqLength;
        }
        if (_comm.Size > 1) _comm.AllReduceSum(p.Gradients);
        double lr = _o.Schedule.At(State.Step + 1);
        // The kernels take the rate as float32: a rate beyond its range would turn every weight into NaN or infinity.
        if (!float.IsFinite((float)lr) || lr < 0)
            throw Diverged($"learning rate is {lr}{(double.IsFinite(lr) && lr >= 0 ? " (beyond float32's range)" : "")}");
        double norm = Optimizer.Step(lr);
        if (!double.IsFinite(norm)) throw Diverged($"gradient norm is {norm}");
        State.Step++;
        State.LearningRate = lr;
        var pos = _data.Position;
        (State.Epoch, State.DataPosition) = ((int)pos.Epoch, pos.Index);
        var report = new StepReport(State.Step, _o.Schedule.TotalSteps, sum, sum.Loss / accum, norm, lr, tokens,
            Stopwatch.GetElapsedTime(t0).TotalSeconds, pos, EpochOf(pos));
        for (int i = 0; i < Callbacks.Count; i++) Callbacks[i].OnStep(in report);
        return report;
    }

    /// <summary>This rank's rows of a global batch and the first one's index (the whole batch for one rank; null
    /// when the batch has fewer rows than there are ranks and none fall to this one).</summary>
    private (BertBatch? Local, int First) Slice(BertBatch global)
    {
        if (_comm.Size == 1) return (global, 0);
        int b = global.BatchSize, first = (int)((long)b * _comm.Rank / _comm.Size), end = (int)((long)b * (_comm.Rank + 1) / _comm.Size);
        if (end == first) return (null, first);
        if (_slice is null || _slice.BatchCapacity < end - first || _slice.MaxSeqLength < global.SeqLength || _slice.MaxPredictions != global.MaxPredictions
            || _slice.TeacherLogitsPerRow != global.TeacherLogitsPerRow)
            _slice = new BertBatch(Math.Max(end - first, (global.BatchCapacity + _comm.Size - 1) / _comm.Size), global.MaxSeqLength, global.MaxPredictions,
                global.TeacherLogitsPerRow);
        _slice.CopyRowsFrom(global, first, end - first);
        return (_slice, first);
    }

    /// <summary>The sums and counts of every rank's slice, and the global batch's objective from them.</summary>
    private TaskMetrics AllReduce(in TaskMetrics o)
    {
        var s = _stats;
        (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]) =
            (o.MlmLossSum, o.MlmCount, o.MlmCorrect, o.NspLossSum, o.NspCount, o.NspCorrect, o.LabelLossSum, o.LabelCount, o.LabelCorrect);
        (s[9], s[10], s[11]) = (o.DistillLossSum, o.CosineLossSum, o.CosineCount);
        // A rank without rows does not know the soft targets' weight: it learns it from the ranks that have rows.
        (s[12], s[13]) = (o.DistillWeight, o.DistillWeight != 0 ? 1 : 0);
        _comm.AllReduceSum(s);
        var g = new TaskMetrics
        {
            MlmLossSum = s[0], MlmCount = (long)s[1], MlmCorrect = (long)s[2], NspLossSum = s[3], NspCount = (long)s[4],
            NspCorrect = (long)s[5], LabelLossSum = s[6], LabelCount = (long)s[7], LabelCorrect = (long)s[8],
            DistillLossSum = s[9], DistillWeight = o.DistillWeight != 0 || s[13] == 0 ? o.DistillWeight : s[12] / s[13], CosineLossSum = s[10], CosineCount = (long)s[11],
            PretrainingDistillation = o.PretrainingDistillation,
        };
        g.Loss = g.Objective;
        return g;
    }

    private double EpochOf(DataPosition p) => _o.EpochOf?.Invoke(p) ?? p.Epoch;

    private TrainingDivergedException Diverged(string what) =>
        new($"training stopped at step {State.Step + 1}: {what}; parameters were not updated" +
            (LastCheckpoint is null ? " (no checkpoint written yet)" : $"; last good checkpoint: {LastCheckpoint}"));

    /// <summary>Loss and accuracies over the validation batches, dropout off (weighted by real predictions or labels).
    /// Only computes: <see cref="Train"/> records evaluations, tracks the best and tells the callbacks.</summary>
    public EvaluationReport Evaluate()
    {
        long t0 = Stopwatch.GetTimestamp();
        var sum = Model.EmptyPass;
        // Data parallel: batch i is evaluated by rank i mod size; the sums are added up over the ranks.
        for (int i = _comm.Rank; i < _data.ValidationBatchCount; i += _comm.Size)
            sum.Add(Model.Forward(_data.ValidationBatch(i), DropoutContext.Off));
        if (_comm.Size > 1) sum = AllReduce(sum);
        return new EvaluationReport(State.Step, EpochOf(new DataPosition(State.Epoch, State.DataPosition)), sum, State.LearningRate, Stopwatch.GetElapsedTime(t0).TotalSeconds);
    }

    /// <summary>Evaluates, records the evaluation in the history, updates the best model (saving it when asked) and tells the callbacks.</summary>
    private EvaluationReport EvaluateAndTrack()
    {
        var e = Evaluate();
        if (_o.Best is { } best)
        {
            double value = e.Value(best.Metric);
            if (best.Improves(value, State.BestValue))
            {
                (State.BestStep, State.BestValue, State.EvaluationsSinceBest) = (e.Step, value, 0);
                e = e with { IsBest = true };
            }
            else State.EvaluationsSinceBest++;
        }
        bool labels = e.Metrics.LabelCount > 0;
        State.History.Add(new MetricRecord(e.Step, "validation", e.Loss, e.MlmLoss, e.NspLoss, e.MlmAccuracy, e.NspAccuracy, e.LearningRate,
            labels ? e.LabelLoss : null, labels ? e.LabelAccuracy : null));
        foreach (var c in Callbacks) c.OnEvaluation(e);
        if (e.IsBest && _o.SaveBest && _o.OutputDir is not null) Save(CheckpointReason.Best);
        return e;
    }

    /// <summary>Writes a checkpoint at the current step (needs <see cref="TrainerOptions.OutputDir"/>).</summary>
    public string SaveCheckpoint() => Save(CheckpointReason.Requested);

    private string Save(CheckpointReason reason)
    {
        if (_o.OutputDir is null) throw new InvalidOperationException("no output directory set for checkpoints");
        // Weights that stopped being finite (an update at a rate far too high) never become a checkpoint: the last
        // good one stays the newest.
        if (NonFiniteParameter() is { } bad)
            throw new TrainingDivergedException($"training stopped at step {State.Step}: parameter '{bad}' is not finite after the update; no checkpoint written"
                + (LastCheckpoint is null ? "" : $"; last good checkpoint: {LastCheckpoint}"));
        // Data parallel: every rank holds the same parameters and state; rank 0 alone writes them.
        if (_comm.Rank != 0) LastCheckpoint = Path.Combine(_o.OutputDir, Checkpoint.FolderName(State.Step));
        else LastCheckpoint = Checkpoint.Save(_o.OutputDir, Model.Parameters, Optimizer.ExpAvg, Optimizer.ExpAvgSq, State, _o.Vocab, _o.KeepLast,
            _o.SaveBest ? State.BestStep : null, _o.WriteCheckpointFiles);
        var report = new CheckpointReport(State.Step, LastCheckpoint, reason);
        foreach (var c in Callbacks) c.OnCheckpoint(report);
        return LastCheckpoint;
    }

    /// <summary>The name of the first parameter tensor holding a NaN or an infinity, else null (one pass over the
    /// weights; only before a checkpoint).</summary>
    private string? NonFiniteParameter()
    {
        var p = Model.Parameters;
        var device = p.Device;
        foreach (var e in p.Layout.Entries)
            if (!double.IsFinite(device.SumOfSquares(p.Values.View(e.Offset, e.Length)))) return e.Name;
        return null;
    }

    /// <summary>Whether to stop before the next update. Data parallel: agreed by all ranks (any rank's request stops
    /// every rank at the same step), since a signal reaches the processes at different moments.</summary>
    private bool Cancelled(CancellationToken cancel)
    {
        if (_comm.Size == 1) return cancel.IsCancellationRequested;
        _flag[0] = cancel.IsCancellationRequested ? 1 : 0;
        _comm.AllReduceSum(_flag);
        return _flag[0] > 0;
    }

    private bool SavedAtThisStep => LastCheckpoint is not null && Path.GetFileName(LastCheckpoint) == Checkpoint.FolderName(State.Step);

    /// <summary>
    /// Runs updates until <paramref name="untilStep"/> (default: the schedule's total), evaluating every
    /// <see cref="TrainerOptions.EvalEvery"/> updates and after the last, checkpointing every
    /// <see cref="TrainerOptions.SaveEvery"/> and at the end. Cancelling <paramref name="cancel"/> stops after the
    /// current update and writes a checkpoint (the report says <see cref="TrainingReport.Interrupted"/>); so does
    /// early stopping (<see cref="TrainingReport.EarlyStopped"/>). A run already at its end returns at once.
    /// </summary>
    public TrainingReport Train(long? untilStep = null, CancellationToken cancel = default)
    {
        long end = untilStep ?? _o.Schedule.TotalSteps;
        long start = State.Step;
        long t0 = Stopwatch.GetTimestamp();
        bool interrupted = false, early = false;
        EvaluationReport? last = null;
        // Without validation batches there is nothing to evaluate (and no figure to record or compare).
        bool evaluate = _data.ValidationBatchCount > 0;
        if (evaluate && _o.EvaluateAtStart && State.Step == 0 && State.Step < end && !State.History.Exists(h => h.Step == 0 && h.Split == "validation"))
            last = EvaluateAndTrack();
        while (State.Step < end)
        {
            if (Cancelled(cancel)) { interrupted = true; break; }
            TrainStep();
            long step = State.Step;
            if (evaluate && _o.EvalEvery > 0 && (step % _o.EvalEvery == 0 || step == end)) last = EvaluateAndTrack();
            if (_o.OutputDir is not null && _o.SaveEvery > 0 && step % _o.SaveEvery == 0 && step < end && !SavedAtThisStep)
                Save(CheckpointReason.Periodic);
            if (_o.EarlyStoppingPatience > 0 && State.EvaluationsSinceBest >= _o.EarlyStoppingPatience) { early = true; break; }
        }
        if (_o.OutputDir is not null && !SavedAtThisStep) Save(interrupted ? CheckpointReason.Interrupted : CheckpointReason.Final);
        string? bestFolder = _o.SaveBest && State.BestStep is long b && _o.OutputDir is not null
            && Directory.Exists(Path.Combine(_o.OutputDir, Checkpoint.FolderName(b))) ? Path.Combine(_o.OutputDir, Checkpoint.FolderName(b)) : null;
        var report = new TrainingReport(start, State.Step, end, interrupted, early, _o.OutputDir is null ? null : LastCheckpoint, last,
            State.BestStep, State.BestValue, bestFolder, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        foreach (var c in Callbacks) c.OnEnd(report);
        return report;
    }
}
