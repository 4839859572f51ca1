namespace BertSharp.Tensors;

/// <summary>Names of <see cref="Precision"/> as users write them (<c>fp32</c>, <c>tf32</c>, <c>bf16</c>).</summary>
public static class Precisions
{
    /// <summary>The name of <paramref name="precision"/>: <c>fp32</c>, <c>tf32</c> or <c>bf16</c>.</summary>
    public static string Name(this Precision precision) => precision switch
    {
        Precision.Fp32 => "fp32",
        Precision.Tf32 => "tf32",
        Precision.Bf16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(precision)),
    };

    /// <summary>Reads <c>auto</c> (null: the device chooses), <c>fp32</c>/<c>float32</c>, <c>tf32</c> or
    /// <c>bf16</c>/<c>bfloat16</c>; throws <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>) naming
    /// <paramref name="what"/> for anything else.</summary>
    public static Precision? Parse(string? text, string what = "Precision")
    {
        string s = (text ?? "").Trim().ToLowerInvariant();
        return s switch
        {
            "" or "auto" => null,
            "fp32" or "float32" or "f32" => Precision.Fp32,
            "tf32" => Precision.Tf32,
            "bf16" or "bfloat16" => Precision.Bf16,
            _ => throw new BertSharpException($"{what} {text}: expected auto, fp32, tf32 or bf16", ErrorKind.Usage) { Properties = [what] },
        };
    }
}
