using BertSharp.IO;

namespace BertSharp.Training;

/// <summary>
/// Writes the scalars of metrics.jsonl as TensorBoard event files, in its usual layout: <c>tensorboard/train/</c> and
/// <c>tensorboard/validation/</c> with the same tags (so TensorBoard draws train and validation of a tag in one chart):
/// loss, mlm_loss, nsp_loss, mlm_accuracy, nsp_accuracy (fine-tuning: loss, accuracy), and for training
/// learning_rate, grad_norm, tokens_per_second; for validation perplexity (exp of the MLM loss); with a pretraining
/// teacher, soft_loss and cos_loss (as metrics.jsonl has them). A resumed run drops
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
        AddTeacherTerms(scalars, m);
        _train.AddScalars(r.Step, scalars);
    }

    /// <inheritdoc/>
    public void OnEvaluation(EvaluationReport e)
    {
        List<(string, double)> scalars = e.IsPretraining
            ? [("loss", e.Loss), ("mlm_loss", e.MlmLoss), ("nsp_loss", e.NspLoss), ("mlm_accuracy", e.MlmAccuracy), ("nsp_accuracy", e.NspAccuracy), ("perplexity", Math.Exp(e.MlmLoss))]
            : [("loss", e.LabelLoss), ("accuracy", e.LabelAccuracy)];
        AddTeacherTerms(scalars, e.Metrics);
        _validation.AddScalars(e.Step, scalars);
    }

    private static void AddTeacherTerms(List<(string, double)> scalars, in Model.TaskMetrics m)
    {
        if (m.PretrainingDistillation is not null) scalars.Add(("soft_loss", m.SoftMlmLoss));
        if (m.CosineCount > 0) scalars.Add(("cos_loss", m.CosineLoss));
    }

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
