namespace BertSharp.Runs;

/// <summary>Wall times of a <see cref="FineTuningRun"/>, in seconds.</summary>
/// <param name="Read">reading and splitting the data</param>
/// <param name="Tokenize">encoding the texts</param>
/// <param name="TrainAndEval">training with the evaluations</param>
/// <param name="Total">the whole run</param>
public sealed record FineTuningSeconds(double Read, double Tokenize, double TrainAndEval, double Total);
