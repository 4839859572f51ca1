namespace BertSharp.Training;

/// <summary>The run stopped because the loss or the gradient norm stopped being finite (<see cref="ErrorKind.Diverged"/>);
/// the message names the step and the last good checkpoint.</summary>
public sealed class TrainingDivergedException(string message) : BertSharpException(message, ErrorKind.Diverged);
