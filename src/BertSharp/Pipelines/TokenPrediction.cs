namespace BertSharp.Pipelines;

/// <summary>One candidate token and its probability under the MLM head's softmax.</summary>
public sealed record TokenPrediction(string Token, int Id, double Probability);
