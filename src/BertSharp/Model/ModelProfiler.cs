using System.Diagnostics;

namespace BertSharp.Model;

/// <summary>Parts of a training step timed by <see cref="ModelProfiler"/>.</summary>
internal enum ProfileSection
{
    EmbeddingsForward, AttentionForward, AttentionOutputForward, IntermediateForward, OutputForward,
    PoolerForward, MlmHeadForward, NspHeadForward,
    MlmHeadBackward, NspHeadBackward, PoolerBackward, OutputBackward, IntermediateBackward, AttentionOutputBackward,
    AttentionBackward, EmbeddingsBackward, Optimizer,
}

/// <summary>
/// Opt-in wall-clock time per part of the step (summed over layers), for the benchmark's per-layer table.
/// Off by default: then <see cref="Begin"/> returns 0 and <see cref="End"/> does nothing, so the cost is a branch.
/// </summary>
internal static class ModelProfiler
{
    private static readonly long[] Ticks = new long[Enum.GetValues<ProfileSection>().Length];
    public static bool Enabled { get; set; }

    public static long Begin() => Enabled ? Stopwatch.GetTimestamp() : 0;

    public static void End(ProfileSection section, long start)
    {
        if (Enabled) Ticks[(int)section] += Stopwatch.GetTimestamp() - start;
    }

    public static void Reset() => Array.Clear(Ticks);

    public static double Seconds(ProfileSection section) => Ticks[(int)section] / (double)Stopwatch.Frequency;
}
