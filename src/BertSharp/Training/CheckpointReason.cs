namespace BertSharp.Training;

/// <summary>Why a checkpoint was written.</summary>
public enum CheckpointReason
{
    /// <summary>Every <see cref="TrainerOptions.SaveEvery"/> updates.</summary>
    Periodic,
    /// <summary>A new best evaluation (<see cref="TrainerOptions.SaveBest"/>).</summary>
    Best,
    /// <summary>The end of the run (finished or stopped early).</summary>
    Final,
    /// <summary>The run was cancelled.</summary>
    Interrupted,
    /// <summary>Asked for through <see cref="Trainer.SaveCheckpoint"/>.</summary>
    Requested,
}
