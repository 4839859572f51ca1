namespace BertSharp.Runs;

/// <summary>One epoch of fine-tuning: the mean training loss and accuracy over its updates, the evaluation after it.</summary>
/// <param name="Epoch">the epoch, from 1</param>
/// <param name="Step">updates done at its end</param>
/// <param name="TrainLoss">mean cross-entropy over the epoch's training examples (of this session, for an epoch resumed in its middle)</param>
/// <param name="TrainAccuracy">share of those examples predicted right</param>
/// <param name="EvalLoss">mean cross-entropy on the evaluation set after the epoch (NaN without one)</param>
/// <param name="EvalAccuracy">accuracy on the evaluation set after the epoch (NaN without one)</param>
/// <param name="TrainSeconds">wall time of the epoch's training</param>
/// <param name="EvalSeconds">wall time of its evaluation</param>
public sealed record EpochResult(int Epoch, long Step, double TrainLoss, double TrainAccuracy, double EvalLoss, double EvalAccuracy,
    double TrainSeconds, double EvalSeconds);
