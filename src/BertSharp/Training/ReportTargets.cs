namespace BertSharp.Training;

/// <summary>Names of <see cref="ReportTo"/> on the command line.</summary>
public static class ReportTargets
{
    /// <summary>Reads <c>tensorboard</c> or <c>none</c>; anything else is a <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>).</summary>
    public static ReportTo Parse(string? text, string what = "--report-to") => (text ?? "").Trim().ToLowerInvariant() switch
    {
        "tensorboard" => ReportTo.TensorBoard,
        "none" => ReportTo.None,
        _ => throw new BertSharpException($"{what} '{text}': expected tensorboard or none", ErrorKind.Usage),
    };
}
