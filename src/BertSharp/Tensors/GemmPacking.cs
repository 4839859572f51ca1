using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// Packing for SGEMM: copies a block of A (or B) into micro-panels of <c>w</c> floats per k step, so the
/// micro-kernel reads both operands sequentially whatever the transposes were. Edges beyond the matrix
/// are zero-filled, which lets edge tiles use the full-size kernel.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>Packs a block whose panel direction is contiguous in memory (A transposed, or B not
    /// transposed): source row k holds the block's <paramref name="width"/> values at src + k*ld, and
    /// they go to panels of w floats, panel q at dst + q*w*kc, dst[q*w*kc + k*w + r] = src[k*ld + q*w + r],
    /// zero past width. Rows are read whole and in order (one sequential stream per k step rather than
    /// kc short strided reads per panel, which would touch a new page at every step for wide matrices).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Copy(float* src, nint ld, int width, int kc, float* dst, int w)
    {
        int full = width / w, tail = width - full * w;
        nint panel = (nint)w * kc;
        for (int k = 0; k < kc; k++, src += ld)
        {
            float* s = src;
            float* d = dst + (nint)k * w;
            for (int q = 0; q < full; q++, s += w, d += panel)
            {
                int j = 0;
                for (; j + 8 <= w; j += 8) Vector256.Store(Vector256.Load(s + j), d + j);
                for (; j + 4 <= w; j += 4) Vector128.Store(Vector128.Load(s + j), d + j);
                for (; j < w; j++) d[j] = s[j];
            }
            if (tail > 0)
            {
                int j = 0;
                for (; j < tail; j++) d[j] = s[j];
                for (; j < w; j++) d[j] = 0f;
            }
        }
    }

    /// <summary>dst[k*w + r] = src[r*ld + k] for r &lt; rows; zero for rows ≤ r &lt; w. (The operand's panel
    /// direction is strided: A not transposed, or B transposed.) 8×8 and 4×8 register transposes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(float* src, nint ld, int rows, int kc, float* dst, int w)
    {
        int r = 0;
        if (Avx.IsSupported)
        {
            for (; r + 8 <= rows; r += 8)
            {
                float* s = src + r * ld;
                int k = 0;
                for (; k + 8 <= kc; k += 8)
                {
                    Transpose4x8(s + k, ld, out var a0, out var a1, out var a2, out var a3);
                    Transpose4x8(s + 4 * ld + k, ld, out var b0, out var b1, out var b2, out var b3);
                    float* d = dst + k * w + r;
                    Avx.Store(d, Avx.Permute2x128(a0, b0, 0x20));
                    Avx.Store(d + w, Avx.Permute2x128(a1, b1, 0x20));
                    Avx.Store(d + 2 * w, Avx.Permute2x128(a2, b2, 0x20));
                    Avx.Store(d + 3 * w, Avx.Permute2x128(a3, b3, 0x20));
                    Avx.Store(d + 4 * w, Avx.Permute2x128(a0, b0, 0x31));
                    Avx.Store(d + 5 * w, Avx.Permute2x128(a1, b1, 0x31));
                    Avx.Store(d + 6 * w, Avx.Permute2x128(a2, b2, 0x31));
                    Avx.Store(d + 7 * w, Avx.Permute2x128(a3, b3, 0x31));
                }
                for (; k < kc; k++)
                    for (int i = 0; i < 8; i++) dst[k * w + r + i] = s[i * ld + k];
            }
            for (; r + 4 <= rows; r += 4)
            {
                float* s = src + r * ld;
                int k = 0;
                for (; k + 8 <= kc; k += 8)
                {
                    Transpose4x8(s + k, ld, out var a0, out var a1, out var a2, out var a3);
                    float* d = dst + k * w + r;
                    Sse.Store(d, a0.GetLower());
                    Sse.Store(d + w, a1.GetLower());
                    Sse.Store(d + 2 * w, a2.GetLower());
                    Sse.Store(d + 3 * w, a3.GetLower());
                    Sse.Store(d + 4 * w, a0.GetUpper());
                    Sse.Store(d + 5 * w, a1.GetUpper());
                    Sse.Store(d + 6 * w, a2.GetUpper());
                    Sse.Store(d + 7 * w, a3.GetUpper());
                }
                for (; k < kc; k++)
                    for (int i = 0; i < 4; i++) dst[k * w + r + i] = s[i * ld + k];
            }
        }
        for (; r < rows; r++)
        {
            float* s = src + r * ld;
            for (int k = 0; k < kc; k++) dst[k * w + r] = s[k];
        }
        if (rows < w)
            for (int k = 0; k < kc; k++)
                for (int i = rows; i < w; i++) dst[k * w + i] = 0f;
    }

    /// <summary>Loads 4 rows × 8 columns at s (row stride ld) and returns vt whose low half is column t
    /// and high half column t+4 (each as the 4 rows in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x8(float* s, nint ld, out Vector256<float> v0, out Vector256<float> v1,
                                     out Vector256<float> v2, out Vector256<float> v3)
    {
        var r0 = Avx.LoadVector256(s);
        var r1 = Avx.LoadVector256(s + ld);
        var r2 = Avx.LoadVector256(s + 2 * ld);
        var r3 = Avx.LoadVector256(s + 3 * ld);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        v0 = Avx.Shuffle(t0, t2, 0x44);
        v1 = Avx.Shuffle(t0, t2, 0xEE);
        v2 = Avx.Shuffle(t1, t3, 0x44);
        v3 = Avx.Shuffle(t1, t3, 0xEE);
    }
}
