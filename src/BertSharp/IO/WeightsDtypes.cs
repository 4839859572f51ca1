using BertSharp.Tensors;

namespace BertSharp.IO;

/// <summary>Names and conversions of <see cref="WeightsDtype"/>.</summary>
public static class WeightsDtypes
{
    /// <summary>The dtype string of a safetensors header, as HF writes it: <c>F32</c>, <c>BF16</c>, <c>F16</c>.</summary>
    public static string SafeTensorsName(this WeightsDtype dtype) => dtype switch
    {
        WeightsDtype.F32 => "F32",
        WeightsDtype.BF16 => "BF16",
        WeightsDtype.F16 => "F16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>config.json's <c>torch_dtype</c>, as transformers writes it: <c>float32</c>, <c>bfloat16</c>, <c>float16</c>.</summary>
    public static string TorchName(this WeightsDtype dtype) => dtype switch
    {
        WeightsDtype.F32 => "float32",
        WeightsDtype.BF16 => "bfloat16",
        WeightsDtype.F16 => "float16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>Bytes per weight: 4 or 2.</summary>
    public static int Size(this WeightsDtype dtype) => dtype == WeightsDtype.F32 ? 4 : 2;

    /// <summary>Reads <c>f32</c>/<c>fp32</c>/<c>float32</c>, <c>bf16</c>/<c>bfloat16</c> or <c>f16</c>/<c>fp16</c>/<c>float16</c>
    /// (any case); throws <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>) naming <paramref name="what"/>
    /// for anything else.</summary>
    public static WeightsDtype Parse(string? text, string what = "ModelFolder.WeightsDtype")
    {
        string s = (text ?? "").Trim().ToLowerInvariant();
        return s switch
        {
            "f32" or "fp32" or "float32" => WeightsDtype.F32,
            "bf16" or "bfloat16" => WeightsDtype.BF16,
            "f16" or "fp16" or "float16" => WeightsDtype.F16,
            _ => throw new BertSharpException($"{what} '{text}': expected f32, bf16 or f16", ErrorKind.Usage),
        };
    }

    /// <summary>The half-precision bits of <paramref name="values"/> (round to nearest even; NaN stays NaN), for
    /// <see cref="WeightsDtype.BF16"/> or <see cref="WeightsDtype.F16"/>. A finite weight that would become an infinity
    /// (beyond ±65504 in float16) is refused with a <see cref="BertSharpException"/> (<see cref="ErrorKind.Conflict"/>)
    /// naming <paramref name="where"/>, the tensor and the element: a model with infinite weights is broken.</summary>
    public static ushort[] Narrow(ReadOnlySpan<float> values, WeightsDtype dtype, string tensor, string where)
    {
        var bits = new ushort[values.Length];
        switch (dtype)
        {
            case WeightsDtype.BF16:
                for (int i = 0; i < values.Length; i++)
                {
                    bits[i] = BFloat16.FromSingle(values[i]);
                    if ((bits[i] & 0x7fff) == 0x7f80 && float.IsFinite(values[i])) throw Overflow(values[i], dtype, tensor, i, where);
                }
                break;
            case WeightsDtype.F16:
                for (int i = 0; i < values.Length; i++)
                {
                    var h = (Half)values[i];
                    if (Half.IsInfinity(h) && float.IsFinite(values[i])) throw Overflow(values[i], dtype, tensor, i, where);
                    bits[i] = BitConverter.HalfToUInt16Bits(h);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "only BF16 and F16 narrow");
        }
        return bits;
    }

    private static BertSharpException Overflow(float value, WeightsDtype dtype, string tensor, int index, string where)
    {
        string range = dtype == WeightsDtype.F16 ? "float16's largest finite value is 65504" : "bfloat16's largest finite value is 3.3895314e38";
        return new BertSharpException(
            $"{where}: ModelFolder.WeightsDtype is {dtype}, but tensor '{tensor}' holds {value:R} at element {index}, which would be written as "
            + $"infinity ({range}); the weights are not written (choose {(dtype == WeightsDtype.F16 ? "BF16 or F32" : "F32")})", ErrorKind.Conflict);
    }
}
