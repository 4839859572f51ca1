namespace BertSharp.Training;

/// <summary>What the learning rate does after warmup (see <see cref="LearningRateSchedule"/>).</summary>
public enum ScheduleKind
{
    /// <summary>Decays linearly to 0 at the last update (BERT's schedule).</summary>
    Linear,
    /// <summary>Follows half a cosine down to 0 at the last update.</summary>
    Cosine,
    /// <summary>Stays at the peak.</summary>
    Constant,
}
