using BertSharp.IO;

namespace BertSharp.Training;

/// <summary>
/// Writes the scalars of metrics.jsonl as TensorBoard event files, in its usual layout: <c>tensorboard/train/</c> and
/// <c>tensorboard/validation/</c> with the same tags (so TensorBoard draws train and validation of a tag in one chart):
/// loss, mlm_loss, nsp_loss, mlm_accuracy, nsp_accuracy (fine-tuning: loss, accuracy), and for training
/// learning_rate, grad_norm, tokens_per_second; for validation perplexity (exp of the MLM loss). A resumed run drops
/// the events after the step it resumes from (<see cref="TensorBoardWriter"/>).
/// </summary>
public sealed class TensorBoardLogger : ITrainerCallback, IDisposable
{
    /// <summary>The folder under the run folder.</summary>
    public const string FolderName = "tensorboard";
    private readonly TensorBoardWriter _train, _validation;

    /// <param name="runDir">The run (or fine-tuning output) folder.</param>
    /// <param name="resumedStep">The step training continues from (0 for a new run).</param>
    public TensorBoardLogger(string runDir, long resumedStep)
    {
        // As metrics.jsonl: what was logged up to the checkpoint stays (its evaluation included), the rest is redone.
        _train = new TensorBoardWriter(Path.Combine(runDir, FolderName, "train"), resumedStep);
        _validation = new TensorBoardWriter(Path.Combine(runDir, FolderName, "validation"), resumedStep);
    }

    /// <inheritdoc/>
    public void OnStep(in StepReport r)
    {
        var m = r.Metrics;
        var scalars = m.MlmCount > 0 || m.NspCount > 0
            ? new List<(string, double)> { ("loss", r.Loss), ("mlm_loss", r.MlmLoss), ("nsp_loss", r.NspLoss), ("mlm_accuracy", r.MlmAccuracy), ("nsp_accuracy", r.NspAccuracy) }
            : [("loss", r.Loss), ("accuracy", r.LabelAccuracy)];
        scalars.AddRange([("learning_rate", r.LearningRate), ("grad_norm", r.GradNorm), ("tokens_per_second", r.TokensPerSecond)]);
        _train.AddScalars(r.Step, scalars);
    }

    /// <inheritdoc/>
    public void OnEvaluation(EvaluationReport e) =>
        _validation.AddScalars(e.Step, e.IsPretraining
            ? [("loss", e.Loss), ("mlm_loss", e.MlmLoss), ("nsp_loss", e.NspLoss), ("mlm_accuracy", e.MlmAccuracy), ("nsp_accuracy", e.NspAccuracy), ("perplexity", Math.Exp(e.MlmLoss))]
            : [("loss", e.LabelLoss), ("accuracy", e.LabelAccuracy)]);

    /// <inheritdoc/>
    public void OnCheckpoint(CheckpointReport checkpoint) { }

    /// <inheritdoc/>
    public void OnEnd(TrainingReport report) => Dispose();

    /// <summary>Closes both files.</summary>
    public void Dispose()
    {
        _train.Dispose();
        _validation.Dispose();
    }
}
