namespace BertSharp.Runs;

/// <summary>
/// How fine-tuning trains: BERT's fine-tuning recipe by default (3 epochs of 32, peak rate 2e-5, 10 % linear warm-up
/// then linear decay, weight decay 0.01, gradient norm clipped at 1). The training part of a
/// <see cref="FineTuningRequest"/> (which is one), and what a <see cref="FineTuner"/> takes; the trainer's options
/// derive from it in <see cref="FineTuner.Train"/>.
/// </summary>
public record FineTuningRecipe
{
    /// <summary>Passes over the training texts.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Training texts per update.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Texts per evaluation batch.</summary>
    public int EvalBatchSize { get; init; } = 64;
    /// <summary>Peak learning rate (linear warm-up, then linear decay to 0).</summary>
    public double LearningRate { get; init; } = 2e-5;
    /// <summary>Share of the updates spent warming up.</summary>
    public double WarmupRatio { get; init; } = 0.1;
    /// <summary>AdamW weight decay (not applied to biases and LayerNorm).</summary>
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>The global gradient norm is clipped to this (0: no clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Seed of the epoch orders and dropout; in a <see cref="FineTuningRun"/> also of the initialisation (random
    /// weights, the classifier) and of the data's split and subsets.</summary>
    public ulong Seed { get; init; } = 42;
    /// <summary>Batch training texts of similar length (like HF's <c>group_by_length</c>): the shuffled order is cut into
    /// groups of <see cref="LengthGroupBatches"/> batches, each group sorted by length, and the full batches are then
    /// visited in a seeded random order (HF keeps a group's batches in order). Padding (and its quadratic attention cost)
    /// mostly disappears.</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Batches per length-sorted group (HF uses 50).</summary>
    public int LengthGroupBatches { get; init; } = 50;
    /// <summary>Stop after this many epochs without a better evaluation accuracy (0: never).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>A progress line every N updates (0: only per epoch).</summary>
    public int LogEvery { get; init; } = 50;

    /// <summary>The values no fine-tuning can use, each as the property and what is wrong with it (a caller that took them
    /// from its own options names those instead); none when all are usable.</summary>
    public virtual IEnumerable<(string Property, string Problem)> Problems()
    {
        if (Epochs < 1) yield return (nameof(Epochs), $"must be at least 1, got {Epochs}");
        if (BatchSize < 1) yield return (nameof(BatchSize), $"must be at least 1, got {BatchSize}");
        if (EvalBatchSize < 1) yield return (nameof(EvalBatchSize), $"must be at least 1, got {EvalBatchSize}");
        if (!(LearningRate > 0 && double.IsFinite(LearningRate))) yield return (nameof(LearningRate), $"must be positive, got {LearningRate}");
        if (!(WarmupRatio >= 0 && WarmupRatio < 1)) yield return (nameof(WarmupRatio), $"must be in [0, 1), got {WarmupRatio}");
        if (!(WeightDecay >= 0 && float.IsFinite(WeightDecay))) yield return (nameof(WeightDecay), $"must be 0 or more, got {WeightDecay}");
        if (!(MaxGradNorm >= 0)) yield return (nameof(MaxGradNorm), $"must be 0 (no clipping) or more, got {MaxGradNorm}");
        if (LengthGroupBatches < 1) yield return (nameof(LengthGroupBatches), $"must be at least 1, got {LengthGroupBatches}");
        if (LogEvery < 0) yield return (nameof(LogEvery), $"must be 0 (only per epoch) or more, got {LogEvery}");
        if (EarlyStoppingPatience < 0) yield return (nameof(EarlyStoppingPatience), $"must be 0 (never) or more, got {EarlyStoppingPatience}");
    }

    /// <summary>Throws a <see cref="ErrorKind.Usage"/> error for the first of <see cref="Problems"/>
    /// (<c>LearningRate: must be positive, got -1</c>), the property in <see cref="BertSharpException.Properties"/>.</summary>
    public void Validate()
    {
        foreach (var (property, problem) in Problems())
            throw new BertSharpException($"{property}: {problem}", ErrorKind.Usage) { Properties = [property] };
    }
}
