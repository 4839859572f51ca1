using BertSharp.IO;
using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>What <see cref="PretrainingRun.Run"/> did.</summary>
/// <param name="RunDir">the run folder</param>
/// <param name="Settings">the settings, resolved (run.json)</param>
/// <param name="Training">what the trainer did in this session</param>
/// <param name="AlreadyFinished">the run had reached its end before this session</param>
/// <param name="FinalCheckpoint">the newest checkpoint (at the step the run stopped)</param>
/// <param name="LastValidation">the run's last evaluation (earlier sessions included)</param>
/// <param name="Baselines">chance levels of the validation set</param>
/// <param name="VocabularySize">tokens in the vocabulary</param>
/// <param name="ParameterCount">the model's parameters</param>
/// <param name="TrainingSeconds">wall time of training, earlier sessions included</param>
/// <param name="Title">the run's title (curves.svg, summary.md)</param>
public sealed record PretrainingResult(string RunDir, RunSettings Settings, TrainingReport Training, bool AlreadyFinished,
    string FinalCheckpoint, MetricRow? LastValidation, ChanceBaselines Baselines, int VocabularySize, long ParameterCount,
    double TrainingSeconds, string Title)
{
    /// <summary>The run was cancelled before its end (a checkpoint was written).</summary>
    public bool Interrupted => Training.Interrupted;
    /// <summary>Updates done so far.</summary>
    public long Step => Training.Step;
}
