namespace BertSharp.Training;

/// <summary>Names of <see cref="ReportTo"/> (the runs' <c>ReportTo</c> property) in text.</summary>
public static class ReportTargets
{
    /// <summary>Reads <c>tensorboard</c> or <c>none</c>; anything else is a <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>)
    /// naming <paramref name="what"/> (in <see cref="BertSharpException.Properties"/>).</summary>
    public static ReportTo Parse(string? text, string what = "ReportTo") => (text ?? "").Trim().ToLowerInvariant() switch
    {
        "tensorboard" => ReportTo.TensorBoard,
        "none" => ReportTo.None,
        _ => throw new BertSharpException($"{what} '{text}': expected tensorboard or none", ErrorKind.Usage) { Properties = [what] },
    };
}
