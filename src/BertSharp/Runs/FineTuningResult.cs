using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>What <see cref="FineTuningRun.Run"/> did.</summary>
/// <param name="OutputDir">the folder with the fine-tuned model and finetune_results.json (written unless <see cref="Interrupted"/>)</param>
/// <param name="Origin">where the starting weights came from, in words</param>
/// <param name="DataSource">the labelled data read</param>
/// <param name="Labels">the label names, by label id</param>
/// <param name="TrainExamples">training texts used</param>
/// <param name="EvalExamples">evaluation texts used</param>
/// <param name="MaxLength">tokens per text, [CLS] and [SEP] included</param>
/// <param name="HeadTokens">tokens kept from the start of a long text</param>
/// <param name="TruncatedShare">share of the training texts cut head + tail</param>
/// <param name="History">one entry per epoch finished in this session</param>
/// <param name="Training">what the trainer did (interrupted, stopped early, best step, checkpoints)</param>
/// <param name="BestEpoch">the epoch with the best evaluation accuracy (null without evaluation)</param>
/// <param name="Seconds">wall time: reading, tokenizing, training with evaluation, and in all</param>
public sealed record FineTuningResult(string OutputDir, string Origin, string DataSource, IReadOnlyList<string> Labels,
    int TrainExamples, int EvalExamples, int MaxLength, int HeadTokens, double TruncatedShare,
    IReadOnlyList<EpochResult> History, TrainingReport Training, int? BestEpoch, FineTuningSeconds Seconds)
{
    /// <summary>Cancelled before the end: a checkpoint was written; the same request with <see cref="FineTuningRequest.Resume"/> continues.</summary>
    public bool Interrupted => Training.Interrupted;
    /// <summary>A resume of a run that had already finished: nothing was trained or written.</summary>
    public bool AlreadyFinished { get; init; }
    /// <summary>Updates done so far.</summary>
    public long Step => Training.Step;
    /// <summary>Updates of the whole run.</summary>
    public long TotalSteps => Training.TotalSteps;
    /// <summary>The evaluation accuracy after the last epoch (NaN before any epoch or without evaluation texts).</summary>
    public double FinalEvalAccuracy => History.Count > 0 ? History[^1].EvalAccuracy : double.NaN;
    /// <summary>finetune_results.json in <see cref="OutputDir"/>.</summary>
    public string ResultsPath => Path.Combine(OutputDir, FineTuningRun.ResultsFile);
}
