using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>bfloat16 conversions, the one definition every device uses (the CUDA kernels' <c>bs_f2bf</c>/<c>bs_bf2f</c> and
/// the CPU bf16 GEMM's packing do the same): a bfloat16 is float32's top 16 bits; float32 → bfloat16 rounds to nearest,
/// ties to even; a NaN stays a NaN and becomes quiet (sign and top payload bits kept); infinities stay infinities;
/// denormals are rounded like any other value (not flushed). bfloat16 → float32 is exact.</summary>
public static class BFloat16
{
    /// <summary>float32 → bfloat16 bits, round to nearest even.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float f) => (ushort)(RoundBits(BitConverter.SingleToUInt32Bits(f)) >> 16);

    /// <summary>bfloat16 bits → float32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>f rounded to the nearest bfloat16 value, as a float32 (<c>ToSingle(FromSingle(f))</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float f) => BitConverter.UInt32BitsToSingle(RoundBits(BitConverter.SingleToUInt32Bits(f)) & 0xFFFF0000u);

    /// <summary>The float32 bits whose top half is the rounded bfloat16 (the low half is garbage).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint RoundBits(uint u)
        => (u & 0x7FFFFFFFu) > 0x7F800000u ? u | 0x00400000u : u + 0x7FFFu + ((u >> 16) & 1u);

    /// <summary>Vector form of <see cref="RoundBits(uint)"/>, 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<uint> RoundBits(Vector512<uint> u)
    {
        var rounded = u + Vector512.Create(0x7FFFu) + ((u >> 16) & Vector512<uint>.One);
        var nan = Vector512.GreaterThan(u & Vector512.Create(0x7FFFFFFFu), Vector512.Create(0x7F800000u));
        return Vector512.ConditionalSelect(nan, u | Vector512.Create(0x00400000u), rounded);
    }

    /// <summary>destination[i] = FromSingle(source[i]); the spans must have the same length.</summary>
    public static unsafe void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (source.Length != destination.Length)
            throw new ArgumentException($"destination: length {destination.Length} differs from the source's {source.Length}", nameof(destination));
        fixed (float* s = source)
        fixed (ushort* d = destination)
            FromSingle(s, d, source.Length);
    }

    /// <summary>destination[i] = ToSingle(source[i]); the spans must have the same length.</summary>
    public static unsafe void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (source.Length != destination.Length)
            throw new ArgumentException($"destination: length {destination.Length} differs from the source's {source.Length}", nameof(destination));
        fixed (ushort* s = source)
        fixed (float* d = destination)
            ToSingle(s, d, source.Length);
    }

    /// <summary>values[i] = Round(values[i]) in place.</summary>
    public static unsafe void Round(Span<float> values)
    {
        fixed (float* p = values)
        {
            int i = 0, n = values.Length;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= n; i += 16)
                    Vector512.Store(RoundBits(Vector512.Load((uint*)p + i)) & Vector512.Create(0xFFFF0000u), (uint*)p + i);
            for (; i < n; i++) p[i] = Round(p[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void FromSingle(float* s, ushort* d, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            for (; i + 16 <= n; i += 16)
                Avx.Store(d + i, Avx512F.ConvertToVector256UInt16(RoundBits(Vector512.Load((uint*)s + i)) >> 16));
        }
        for (; i < n; i++) d[i] = FromSingle(s[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void ToSingle(ushort* s, float* d, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            for (; i + 16 <= n; i += 16)
                Vector512.Store(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256(s + i)) << 16, (uint*)d + i);
        }
        for (; i < n; i++) d[i] = ToSingle(s[i]);
    }
}
