namespace BertSharp.Training;

/// <summary>What one call of <see cref="Trainer.Train"/> did.</summary>
/// <param name="StartStep">updates done before the call (a resumed run starts above 0)</param>
/// <param name="Step">updates done at the end</param>
/// <param name="TotalSteps">the step the call trained towards</param>
/// <param name="Interrupted">the cancellation token stopped it (a checkpoint was written at <paramref name="Step"/>)</param>
/// <param name="EarlyStopped">no new best for <see cref="TrainerOptions.EarlyStoppingPatience"/> evaluations</param>
/// <param name="FinalCheckpoint">the checkpoint at <paramref name="Step"/> (null without an output folder)</param>
/// <param name="LastEvaluation">the last evaluation of this call, if any</param>
/// <param name="BestStep">step of the best evaluation so far (null without a criterion or evaluation)</param>
/// <param name="BestValue">its value of the criterion's metric</param>
/// <param name="BestCheckpoint">its checkpoint folder, when <see cref="TrainerOptions.SaveBest"/> kept one</param>
/// <param name="Seconds">wall time of the call</param>
public sealed record TrainingReport(long StartStep, long Step, long TotalSteps, bool Interrupted, bool EarlyStopped,
    string? FinalCheckpoint, EvaluationReport? LastEvaluation, long? BestStep, double? BestValue, string? BestCheckpoint, double Seconds)
{
    /// <summary>Updates done by this call.</summary>
    public long StepsDone => Step - StartStep;
    /// <summary>The run has reached its total (nothing interrupted it; early stopping also counts as finished).</summary>
    public bool Finished => !Interrupted && (EarlyStopped || Step >= TotalSteps);
}
