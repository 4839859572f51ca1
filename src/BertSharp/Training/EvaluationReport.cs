using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>One evaluation over the validation batches (dropout off), for either task.</summary>
/// <param name="Step">updates done when it ran</param>
/// <param name="Epoch">passes over the training data so far, fractional</param>
/// <param name="Metrics">sums and counts over every validation batch</param>
/// <param name="LearningRate">rate of the last update</param>
/// <param name="Seconds">wall time of the evaluation</param>
/// <param name="IsBest">a new best by the trainer's <see cref="TrainerOptions.Best"/> criterion</param>
public sealed record EvaluationReport(long Step, double Epoch, TaskMetrics Metrics, double LearningRate, double Seconds, bool IsBest = false)
{
    /// <summary>True when the batches were pretraining batches (MLM/NSP figures), false for classification.</summary>
    public bool IsPretraining => Metrics.MlmCount > 0 || Metrics.NspCount > 0;
    /// <summary>The task's loss: MLM + NSP means for pretraining, the label loss for classification.</summary>
    public double Loss => IsPretraining ? Metrics.MlmLoss + Metrics.NspLoss : Metrics.LabelLoss;
    /// <summary>Masked-token loss.</summary>
    public double MlmLoss => Metrics.MlmLoss;
    /// <summary>Next-sentence loss.</summary>
    public double NspLoss => Metrics.NspLoss;
    /// <summary>Masked-token accuracy.</summary>
    public double MlmAccuracy => Metrics.MlmAccuracy;
    /// <summary>Next-sentence accuracy.</summary>
    public double NspAccuracy => Metrics.NspAccuracy;
    /// <summary>Classification loss (NaN without labels).</summary>
    public double LabelLoss => Metrics.LabelLoss;
    /// <summary>Classification accuracy (NaN without labels).</summary>
    public double LabelAccuracy => Metrics.LabelAccuracy;

    /// <summary>The figure <paramref name="metric"/> names.</summary>
    public double Value(ValidationMetric metric) => metric switch
    {
        ValidationMetric.Loss => Loss,
        ValidationMetric.MlmLoss => MlmLoss,
        ValidationMetric.MlmAccuracy => MlmAccuracy,
        ValidationMetric.NspAccuracy => NspAccuracy,
        ValidationMetric.LabelLoss => LabelLoss,
        _ => LabelAccuracy,
    };
}
