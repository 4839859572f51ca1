namespace BertSharp.Training;

/// <summary>
/// Learning rate for update t (1-based: the first optimiser step is t = 1). Every kind warms up linearly,
/// peak * t / warmup for t &lt;= warmup, so the first update is never wasted at rate 0; after that
/// <c>linear</c> decays to 0 at <c>totalSteps</c> (BERT's schedule), <c>cosine</c> follows half a cosine to 0,
/// <c>constant</c> stays at the peak. The PyTorch reference (tools/reference/bert_reference.py) uses the same formula.
/// </summary>
public readonly record struct LearningRateSchedule(ScheduleKind Kind, double PeakLearningRate, int WarmupSteps, int TotalSteps)
{
    /// <summary>Throws <see cref="ArgumentException"/> unless the peak is positive and finite, warmup ≥ 0, total &gt; 0 and
    /// (except for <see cref="ScheduleKind.Constant"/>) warmup &lt; total.</summary>
    public void Validate()
    {
        if (!(PeakLearningRate > 0) || double.IsInfinity(PeakLearningRate))
            throw new ArgumentException($"learning rate must be positive, got {PeakLearningRate}");
        if (WarmupSteps < 0) throw new ArgumentException($"warm-up steps must be >= 0, got {WarmupSteps}");
        if (TotalSteps <= 0) throw new ArgumentException($"total steps must be positive, got {TotalSteps}");
        if (Kind != ScheduleKind.Constant && WarmupSteps >= TotalSteps)
            throw new ArgumentException($"warm-up steps ({WarmupSteps}) must be fewer than total steps ({TotalSteps})");
    }

    /// <summary><c>linear</c>, <c>cosine</c> or <c>constant</c> (any case); <see cref="ArgumentException"/> for anything else.</summary>
    public static ScheduleKind ParseKind(string name) => name.ToLowerInvariant() switch
    {
        "linear" => ScheduleKind.Linear,
        "cosine" => ScheduleKind.Cosine,
        "constant" => ScheduleKind.Constant,
        _ => throw new ArgumentException($"schedule: unknown learning-rate schedule '{name}' (linear, cosine, constant)"),
    };

    /// <summary>The learning rate of update <paramref name="t"/> (1-based); 0 at t = 0, and 0 past the end for the decaying kinds.</summary>
    public double At(long t)
    {
        if (t <= WarmupSteps) return PeakLearningRate * t / Math.Max(1, WarmupSteps);
        if (Kind == ScheduleKind.Constant) return PeakLearningRate;
        if (Kind == ScheduleKind.Linear)
            return PeakLearningRate * Math.Max(0.0, (double)(TotalSteps - t) / (TotalSteps - WarmupSteps));
        double progress = Math.Min(1.0, (double)(t - WarmupSteps) / (TotalSteps - WarmupSteps));
        return PeakLearningRate * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
