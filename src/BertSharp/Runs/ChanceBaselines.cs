namespace BertSharp.Runs;

/// <summary>What a model that ignores its input scores on the validation set: MLM accuracy when always predicting the
/// most frequent masked token, NSP accuracy when always answering the majority label.</summary>
public readonly record struct ChanceBaselines(double MostFrequentToken, double NspMajority);
