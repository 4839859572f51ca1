using BertSharp.Data;

namespace BertSharp.Training;

/// <summary>How the <see cref="Trainer"/> trains: optimiser, schedule, accumulation, and when it evaluates,
/// checkpoints, tracks the best model and stops early. The same options serve pretraining and fine-tuning.</summary>
public sealed class TrainerOptions
{
    /// <summary>Learning rate per update; its <see cref="LearningRateSchedule.TotalSteps"/> is where <see cref="Trainer.Train"/> ends.</summary>
    public LearningRateSchedule Schedule { get; init; } = new(ScheduleKind.Linear, 1e-4, 100, 10_000);
    /// <summary>Micro-batches per optimiser update (effective batch = batch × this).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary>The ranks of a data-parallel run (null: one process). Batch sizes stay global: each rank trains on its
    /// slice of every batch.</summary>
    public Distributed.ICommunicator? Communicator { get; init; }
    /// <summary>AdamW's decoupled weight decay (biases and LayerNorm are never decayed).</summary>
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>AdamW's β1.</summary>
    public float Beta1 { get; init; } = 0.9f;
    /// <summary>AdamW's β2.</summary>
    public float Beta2 { get; init; } = 0.999f;
    /// <summary>AdamW's ε.</summary>
    public float Epsilon { get; init; } = 1e-6f;
    /// <summary>Global gradient-norm clip (0: none).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Seed of the dropout masks (counter-based: seed + micro-step + site).</summary>
    public ulong Seed { get; init; } = 12345;
    /// <summary>Evaluate every N updates and after the last one (0: never during <see cref="Trainer.Train"/>).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Also evaluate before the first update of a fresh run (the step-0 point of the curves).</summary>
    public bool EvaluateAtStart { get; init; }
    /// <summary>Save a checkpoint every N updates (0: only at the end).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Checkpoints kept (the newest; 0 keeps all). A best checkpoint (<see cref="SaveBest"/>) is kept besides.</summary>
    public int KeepLast { get; init; } = 3;
    /// <summary>Where checkpoints go (<c>checkpoint-STEP</c> folders); null: no checkpoints.</summary>
    public string? OutputDir { get; init; }
    /// <summary>The vocabulary written into each checkpoint (vocab.txt); null: none.</summary>
    public IReadOnlyList<string>? Vocab { get; init; }
    /// <summary>Writes extra files (e.g. tokenizer_config.json) into a checkpoint folder before it is put in place.</summary>
    public Action<string>? WriteCheckpointFiles { get; init; }
    /// <summary>The validation figure that picks the best model (null: no tracking).</summary>
    public BestModelCriterion? Best { get; init; }
    /// <summary>Write a checkpoint whenever the evaluation is a new best (kept regardless of <see cref="KeepLast"/>);
    /// false only records the best step and value in the trainer state.</summary>
    public bool SaveBest { get; init; }
    /// <summary>Stop after this many evaluations in a row without a new best (0: never; needs <see cref="Best"/>).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>Fractional epoch of a data position, for the reports (default: the position's whole epochs).</summary>
    public Func<DataPosition, double>? EpochOf { get; init; }

    /// <summary>Throws a <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>) naming the first bad option.</summary>
    public void Validate()
    {
        try { Schedule.Validate(); }
        catch (ArgumentException e) { throw new BertSharpException($"trainer: {e.Message}", ErrorKind.Usage); }
        if (GradientAccumulationSteps < 1) throw Bad($"gradient accumulation steps must be >= 1, got {GradientAccumulationSteps}");
        if (MaxGradNorm < 0 || double.IsNaN(MaxGradNorm)) throw Bad($"max grad norm must be >= 0, got {MaxGradNorm}");
        if (WeightDecay < 0) throw Bad($"weight decay must be >= 0, got {WeightDecay}");
        if (EvalEvery < 0 || SaveEvery < 0 || KeepLast < 0) throw Bad($"eval-every, save-every and keep-last must be >= 0, got {EvalEvery}, {SaveEvery}, {KeepLast}");
        if (EarlyStoppingPatience < 0) throw Bad($"early-stopping patience must be >= 0, got {EarlyStoppingPatience}");
        if (EarlyStoppingPatience > 0 && Best is null) throw Bad("early stopping needs a best-model criterion (Best)");
        if (SaveBest && Best is null) throw Bad("SaveBest needs a best-model criterion (Best)");
    }

    private static BertSharpException Bad(string message) => new($"trainer: {message}", ErrorKind.Usage);
}
