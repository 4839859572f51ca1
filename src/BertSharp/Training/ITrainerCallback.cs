namespace BertSharp.Training;

/// <summary>
/// What a <see cref="Trainer"/> tells as it goes: metrics files, curves and live displays are callbacks.
/// Every method has an empty default, so a callback implements only what it needs. <see cref="OnStep"/> runs
/// on the training thread after every update: keep it cheap (the loop itself allocates nothing).
/// </summary>
public interface ITrainerCallback
{
    /// <summary>After each optimiser update.</summary>
    void OnStep(in StepReport step) { }
    /// <summary>After each evaluation on the validation batches.</summary>
    void OnEvaluation(EvaluationReport evaluation) { }
    /// <summary>After a checkpoint folder is complete on disk.</summary>
    void OnCheckpoint(CheckpointReport checkpoint) { }
    /// <summary>When <see cref="Trainer.Train"/> returns (finished, interrupted or stopped early).</summary>
    void OnEnd(TrainingReport report) { }
}
