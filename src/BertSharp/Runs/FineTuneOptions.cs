using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>How a <see cref="FineTuner"/> trains: BERT's fine-tuning recipe by default (3 epochs of 32, peak rate 2e-5,
/// 10 % linear warm-up then linear decay, weight decay 0.01, gradient norm clipped at 1).</summary>
public sealed class FineTuneOptions
{
    /// <summary>Passes over the training examples.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Training examples per update.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Examples per evaluation batch.</summary>
    public int EvalBatchSize { get; init; } = 64;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-5;
    /// <summary>Share of the updates spent warming up (BERT's fine-tuning recipe: 0.1).</summary>
    public double WarmupRatio { get; init; } = 0.1;
    /// <summary>AdamW weight decay (not applied to biases and LayerNorm).</summary>
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>The global gradient norm is clipped to this.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Seed of the epoch orders and dropout.</summary>
    public ulong Seed { get; init; } = 42;
    /// <summary>Progress lines (a training line every <see cref="LogEvery"/> updates and one per epoch).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Log a training line every N updates (0: only per epoch).</summary>
    public int LogEvery { get; init; } = 50;

    /// <summary>Batch texts of similar length (like HF's <c>group_by_length</c>): the shuffled order is cut into
    /// groups of <see cref="LengthGroupBatches"/> batches, each group sorted by length, and the full batches are then
    /// visited in a seeded random order (HF keeps a group's batches in order). Padding (and its quadratic attention cost) mostly disappears.</summary>
    public bool GroupByLength { get; init; }

    /// <summary>Batches per length-sorted group (HF uses 50).</summary>
    public int LengthGroupBatches { get; init; } = 50;

    /// <summary>Where checkpoints go (<c>checkpoint-STEP</c>: weights with the classifier, AdamW moments, trainer state); null: none.</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>Also checkpoint every N updates (0: at each epoch's best and at the end only).</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>Continue from this checkpoint (of the same model, data and options): bit-identical to an uninterrupted run.</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Stop after this many epochs without a better validation accuracy (0: never).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>The ranks of a data-parallel run (null: one process); <see cref="BatchSize"/> stays global.</summary>
    public Distributed.ICommunicator? Communicator { get; init; }
    /// <summary>More callbacks of the trainer (a display, metrics files).</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; init; } = [];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be >= 1, got {Epochs}");
        if (BatchSize < 1 || EvalBatchSize < 1) throw new ArgumentException($"batch sizes must be >= 1, got {BatchSize} and {EvalBatchSize}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (!(WarmupRatio >= 0 && WarmupRatio < 1)) throw new ArgumentException($"warm-up ratio must be in [0, 1), got {WarmupRatio}");
        if (WeightDecay < 0) throw new ArgumentException($"weight decay must be >= 0, got {WeightDecay}");
        if (LengthGroupBatches < 1) throw new ArgumentException($"length group must hold at least 1 batch, got {LengthGroupBatches}");
        if (CheckpointEvery < 0 || EarlyStoppingPatience < 0) throw new ArgumentException($"checkpoint interval and patience must be >= 0, got {CheckpointEvery} and {EarlyStoppingPatience}");
    }
}
