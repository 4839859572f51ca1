using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>One optimiser update: its micro-batches' figures added up, the gradient norm before clipping, the rate
/// applied, and how long it took. A value type, passed by reference, so reporting a step allocates nothing.</summary>
/// <param name="Step">updates done, this one included</param>
/// <param name="TotalSteps">the schedule's total</param>
/// <param name="Metrics">sums and counts over the update's micro-batches</param>
/// <param name="Loss">mean objective over the micro-batches</param>
/// <param name="GradNorm">global gradient norm before clipping</param>
/// <param name="LearningRate">rate of this update</param>
/// <param name="Tokens">token cells processed (rows × padded length over the micro-batches)</param>
/// <param name="Seconds">wall time of the update</param>
/// <param name="Position">where the data stands after the update</param>
/// <param name="Epoch">passes over the training data so far, fractional (<see cref="TrainerOptions.EpochOf"/>)</param>
public readonly record struct StepReport(long Step, long TotalSteps, TaskMetrics Metrics, double Loss, double GradNorm,
    double LearningRate, long Tokens, double Seconds, DataPosition Position, double Epoch)
{
    /// <summary>Masked-token loss over the update.</summary>
    public double MlmLoss => Metrics.MlmLoss;
    /// <summary>Next-sentence loss over the update.</summary>
    public double NspLoss => Metrics.NspLoss;
    /// <summary>Masked-token accuracy over the update.</summary>
    public double MlmAccuracy => Metrics.MlmAccuracy;
    /// <summary>Next-sentence accuracy over the update.</summary>
    public double NspAccuracy => Metrics.NspAccuracy;
    /// <summary>Classification accuracy over the update (NaN for pretraining).</summary>
    public double LabelAccuracy => Metrics.LabelAccuracy;
    /// <summary>Tokens per second of this update.</summary>
    public double TokensPerSecond => Tokens / Math.Max(Seconds, 1e-9);
}
