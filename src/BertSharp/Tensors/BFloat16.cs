namespace BertSharp.Tensors;

/// <summary>The host reference of the bfloat16 casts the kernels do (<c>bs_f2bf</c>, <c>bs_bf2f</c>): float32's top 16
/// bits, rounded to nearest even; NaN stays a quiet NaN.</summary>
public static class BFloat16
{
    /// <summary>float32 → bfloat16 bits, round to nearest even.</summary>
    public static ushort FromSingle(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    /// <summary>bfloat16 bits → float32 (exact).</summary>
    public static float ToSingle(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>destination[i] = FromSingle(source[i]).</summary>
    public static void Round(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException($"destination: {destination.Length} elements for {source.Length}");
        for (int i = 0; i < source.Length; i++) destination[i] = FromSingle(source[i]);
    }

    /// <summary>destination[i] = ToSingle(source[i]).</summary>
    public static void Widen(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException($"destination: {destination.Length} elements for {source.Length}");
        for (int i = 0; i < source.Length; i++) destination[i] = ToSingle(source[i]);
    }
}
