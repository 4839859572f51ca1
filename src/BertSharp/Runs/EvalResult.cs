namespace BertSharp.Runs;

/// <summary>Loss and accuracy over examples, and each example's predicted label id.</summary>
/// <param name="Loss">mean cross-entropy</param>
/// <param name="Accuracy">share predicted right</param>
/// <param name="Count">examples scored</param>
/// <param name="Predictions">each example's predicted label id, in the examples' order</param>
public sealed record EvalResult(double Loss, double Accuracy, int Count, int[] Predictions);
