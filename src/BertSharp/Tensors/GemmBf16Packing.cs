using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// Packing for the bf16 GEMM: rounds float32 operands to bfloat16 (round to nearest even, <see cref="BFloat16"/>) or takes
/// bfloat16 operands as they are, while rearranging a block into micro-panels of width w, zero-padded past the matrix
/// and past an odd k.
/// <list type="bullet">
/// <item><b>Pairs</b> (the <c>vdpbf16ps</c> kernel): per k pair p, w dwords; dword r = bf16(x[r, 2p]) | bf16(x[r, 2p+1]) &lt;&lt; 16.</item>
/// <item><b>Floats</b> (the fallback, float32 micro-kernels): per k step s, w floats of the bf16 value of k = s ^ 1 (pairs
/// swapped, so that a float32 kernel's sequential fmas add each pair's odd product first, as <c>vdpbf16ps</c> does),
/// with bf16 denormals flushed to ±0 (as <c>vdpbf16ps</c> treats its inputs).</item>
/// </list>
/// "Copy" blocks have the panel direction contiguous (source row k holds width values at src + k·ld);
/// "Transpose" blocks have k contiguous (source row r holds kc values at src + r·ld), and go through a small staging
/// buffer (converted rows, then the float32 packer's 32-bit transpose).
/// </summary>
internal static unsafe class GemmBf16Packing
{
    /// <summary>Whether the copy direction of the pairs layout skips the staging row (tests turn it off to compare).</summary>
    internal static bool DirectCopy { get; set; } = true;

    /// <summary>Whether the transpose direction prefetches the row after next (benchmarks switch it).</summary>
    internal static bool PrefetchRows { get; set; } = true;

    private static bool V512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint DazBits(uint x) => (x & 0x7F800000u) == 0 ? x & 0x80000000u : x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> DazBits(Vector512<uint> x)
    {
        var zeroExp = Vector512.Equals(x & Vector512.Create(0x7F800000u), Vector512<uint>.Zero);
        return Vector512.ConditionalSelect(zeroExp, x & Vector512.Create(0x80000000u), x);
    }

    /// <summary>Float32 bits of the bf16 value of x[i] (rounded if x is float32), denormals flushed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint FallbackBits(void* x, bool bf16, nint i)
        => DazBits(bf16 ? (uint)((ushort*)x)[i] << 16 : BFloat16.RoundBits(((uint*)x)[i]) & 0xFFFF0000u);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> FallbackBits16(void* x, bool bf16, nint i)
        => DazBits(bf16 ? Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)x + i)) << 16
                        : BFloat16.RoundBits(Vector512.Load((uint*)x + i)) & Vector512.Create(0xFFFF0000u));

    /// <summary>bf16 bits of x[i] in the low half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Bf16Bits(void* x, bool bf16, nint i)
        => bf16 ? ((ushort*)x)[i] : BFloat16.RoundBits(((uint*)x)[i]) >> 16;

    /// <summary>bf16 bits of x[i..i+16] in the low halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Bf16Bits16(void* x, bool bf16, nint i)
        => bf16 ? Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)x + i))
                : BFloat16.RoundBits(Vector512.Load((uint*)x + i)) >> 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void* At(void* x, bool bf16, nint i) => (byte*)x + (bf16 ? 2 : 4) * i;

    /// <summary>Packs a block into panels of w (see the class summary). src points at the block's first element;
    /// copy: the panel direction is contiguous (width values per k row, k rows ld apart), else k is contiguous (width
    /// rows ld apart, kc values each). pairs: the vdpbf16ps layout (ceil(kc/2) pair steps) rather than swapped floats
    /// (kc rounded up to even steps). stage: scratch of at least max(w·kcPad, width) dwords.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(void* src, bool bf16, nint ld, bool copy, int width, int kc, uint* dst, int w, bool pairs, uint* stage)
    {
        int steps = pairs ? (kc + 1) / 2 : (kc + 1) & ~1;   // dword steps per panel
        if (copy && pairs && DirectCopy && V512 && (w == 32 || w == 12))
        {
            CopyPairs(src, bf16, ld, width, kc, dst, w, steps);
            return;
        }
        if (copy)
        {
            for (int s = 0; s < steps; s++)
            {
                if (pairs) StagePairRow(src, bf16, ld, width, kc, 2 * s, stage);
                else StageFloatRow(src, bf16, ld, width, kc, s ^ 1, stage);
                Scatter(stage, width, dst + (nint)s * w, w, (nint)w * steps);
            }
            return;
        }
        for (int r0 = 0; r0 < width; r0 += w, dst += (nint)w * steps)
        {
            int rows = Math.Min(w, width - r0);
            for (int r = 0; r < rows; r++)
            {
                void* row = At(src, bf16, (r0 + r) * ld);
                if (PrefetchRows && Sse.IsSupported && r0 + r + 2 < width)
                {
                    // The row after next: each row is its own short stream (often its own page), which the
                    // hardware prefetchers pick up only after a few misses.
                    byte* next = (byte*)At(src, bf16, (r0 + r + 2) * ld);
                    int bytes = (bf16 ? 2 : 4) * kc;
                    for (int o = 0; o < bytes; o += 64) Sse.Prefetch0(next + o);
                }
                if (pairs) StagePairs(row, bf16, kc, stage + (nint)r * steps);
                else StageSwapped(row, bf16, kc, stage + (nint)r * steps);
            }
            GemmPacking.Transpose((float*)stage, steps, rows, steps, (float*)dst, w);
        }
    }

    /// <summary>Pairs of rows k and k+1 at columns j..j+16 (row k+1 absent: null, zero high halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Pair16(void* r0, void* r1, bool bf16, nint j)
        => r1 == null ? Bf16Bits16(r0, bf16, j) : Bf16Bits16(r0, bf16, j) | (Bf16Bits16(r1, bf16, j) << 16);

    /// <summary>Stores lanes 0..11 (a 12-wide panel row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store12(Vector512<uint> v, uint* p)
    {
        Vector256.Store(v.GetLower(), p);
        Vector128.Store(v.GetUpper().GetLower(), p + 8);
    }

    /// <summary>The copy direction of the pairs layout for panels of 32 or 12 (AVX-512): each pair row goes straight
    /// from registers into the panels (no staging); the bits are <see cref="StagePairRow"/>'s followed by
    /// <see cref="Scatter"/>. For w 12, 48 columns (three vectors) fill four panel rows through two-source permutes,
    /// panel group by panel group down all the steps (four sequential write streams: measured 2-3x faster than the
    /// staged row order on Zen 5, whose panel stride is a multiple of 4 KiB); w 32 goes row by row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CopyPairs(void* src, bool bf16, nint ld, int width, int kc, uint* dst, int w, int steps)
    {
        nint panel = (nint)w * steps;
        var i1 = Vector512.Create(12u, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 0, 0, 0);
        var i2 = Vector512.Create(8u, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 0, 0, 0);
        var i3 = Vector512.Create(4u, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0);
        int j0 = 0;
        if (w == 12)
        {
            // Four panels (48 columns) at a time down all the pair steps: four sequential write streams.
            for (; j0 + 48 <= width; j0 += 48)
            {
                uint* p = dst + (j0 / 12) * panel;
                for (int s = 0; s < steps; s++, p += 12)
                {
                    int k = 2 * s;
                    void* r0 = At(src, bf16, k * ld + j0);
                    void* r1 = k + 1 < kc ? At(src, bf16, (k + 1) * ld + j0) : null;
                    var v0 = Pair16(r0, r1, bf16, 0);
                    var v1 = Pair16(r0, r1, bf16, 16);
                    var v2 = Pair16(r0, r1, bf16, 32);
                    Store12(v0, p);
                    Store12(Avx512F.PermuteVar16x32x2(v0, i1, v1), p + panel);
                    Store12(Avx512F.PermuteVar16x32x2(v1, i2, v2), p + 2 * panel);
                    Store12(Avx512F.PermuteVar16x32(v2, i3), p + 3 * panel);
                }
            }
            // Then single panels while a whole vector still fits in the row.
            for (; j0 + 16 <= width; j0 += 12)
            {
                uint* p = dst + (j0 / 12) * panel;
                for (int s = 0; s < steps; s++, p += 12)
                {
                    int k = 2 * s;
                    void* r0 = At(src, bf16, k * ld + j0);
                    void* r1 = k + 1 < kc ? At(src, bf16, (k + 1) * ld + j0) : null;
                    Store12(Pair16(r0, r1, bf16, 0), p);
                }
            }
        }
        for (int s = 0; s < steps; s++)
        {
            int k = 2 * s;
            void* r0 = At(src, bf16, k * ld);
            void* r1 = k + 1 < kc ? At(src, bf16, (k + 1) * ld) : null;
            uint* d = dst + (nint)s * w;
            int j = j0;   // a multiple of 16 for w 32, of 12 for w 12
            if (w == 32)
            {
                for (; j + 32 <= width; j += 32)
                {
                    uint* p = d + (j >> 5) * panel;
                    Vector512.Store(Pair16(r0, r1, bf16, j), p);
                    Vector512.Store(Pair16(r0, r1, bf16, j + 16), p + 16);
                }
            }
            if (j + 16 <= width)   // w 32: a 16-column half panel
            {
                Vector512.Store(Pair16(r0, r1, bf16, j), d + (j / w) * panel + j % w);
                j += 16;
            }
            for (; j < width; j++)
                d[(j / w) * panel + j % w] = r1 == null ? Bf16Bits(r0, bf16, j) : Bf16Bits(r0, bf16, j) | (Bf16Bits(r1, bf16, j) << 16);
            int rest = width % w;
            if (rest > 0) new Span<uint>(d + (width / w) * panel + rest, w - rest).Clear();
        }
    }

    /// <summary>stage[j] = pair (row k, row k+1) at column j, for j &lt; width (row k+1 absent past kc: zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StagePairRow(void* src, bool bf16, nint ld, int width, int kc, int k, uint* stage)
    {
        void* r0 = At(src, bf16, k * ld);
        void* r1 = k + 1 < kc ? At(src, bf16, (k + 1) * ld) : null;
        int j = 0;
        if (V512)
        {
            if (r1 != null)
                for (; j + 16 <= width; j += 16)
                    Vector512.Store(Bf16Bits16(r0, bf16, j) | (Bf16Bits16(r1, bf16, j) << 16), stage + j);
            else
                for (; j + 16 <= width; j += 16)
                    Vector512.Store(Bf16Bits16(r0, bf16, j), stage + j);
        }
        if (r1 != null) for (; j < width; j++) stage[j] = Bf16Bits(r0, bf16, j) | (Bf16Bits(r1, bf16, j) << 16);
        else for (; j < width; j++) stage[j] = Bf16Bits(r0, bf16, j);
    }

    /// <summary>stage[j] = float bits of row k at column j (zero when k ≥ kc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StageFloatRow(void* src, bool bf16, nint ld, int width, int kc, int k, uint* stage)
    {
        if (k >= kc)
        {
            new Span<uint>(stage, width).Clear();
            return;
        }
        void* row = At(src, bf16, k * ld);
        int j = 0;
        if (V512) for (; j + 16 <= width; j += 16) Vector512.Store(FallbackBits16(row, bf16, j), stage + j);
        for (; j < width; j++) stage[j] = FallbackBits(row, bf16, j);
    }

    /// <summary>dst panel q, step row: dst[q·panel + t] = stage[q·w + t], zero past width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scatter(uint* stage, int width, uint* dst, int w, nint panel)
    {
        int q = 0;
        if (w == 32 && V512)
            for (; (q + 1) * w <= width; q++)
            {
                Vector512.Store(Vector512.Load(stage + q * 32), dst + q * panel);
                Vector512.Store(Vector512.Load(stage + q * 32 + 16), dst + q * panel + 16);
            }
        for (; (q + 1) * w <= width; q++)
            Unsafe.CopyBlockUnaligned(dst + q * panel, stage + q * w, (uint)(4 * w));
        int rest = width - q * w;
        if (rest > 0)
        {
            uint* d = dst + q * panel;
            Unsafe.CopyBlockUnaligned(d, stage + q * w, (uint)(4 * rest));
            new Span<uint>(d + rest, w - rest).Clear();
        }
    }

    /// <summary>out[p] = pair (row[2p], row[2p+1]) for p &lt; ceil(kc/2), the odd tail padded with zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StagePairs(void* row, bool bf16, int kc, uint* o)
    {
        ushort* h = (ushort*)o;
        int k = 0;
        if (bf16)
        {
            Unsafe.CopyBlockUnaligned(h, row, (uint)(2 * kc));
            k = kc;
        }
        else if (V512)
        {
            for (; k + 32 <= kc; k += 32)
            {
                Avx.Store(h + k, Avx512F.ConvertToVector256UInt16(BFloat16.RoundBits(Vector512.Load((uint*)row + k)) >> 16));
                Avx.Store(h + k + 16, Avx512F.ConvertToVector256UInt16(BFloat16.RoundBits(Vector512.Load((uint*)row + k + 16)) >> 16));
            }
        }
        for (; k < kc; k++) h[k] = (ushort)Bf16Bits(row, bf16, k);
        if ((kc & 1) != 0) h[kc] = 0;
    }

    /// <summary>out[s] = fallback bits of row[s ^ 1] for s &lt; kc rounded up to even (zero past kc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StageSwapped(void* row, bool bf16, int kc, uint* o)
    {
        int s = 0;
        if (V512)
        {
            for (; s + 16 <= kc; s += 16)
            {
                var v = FallbackBits16(row, bf16, s).AsSingle();
                Vector512.Store(Avx512F.Shuffle(v, v, 0xB1).AsUInt32(), o + s);   // swap neighbours
            }
        }
        for (; s + 1 < kc; s += 2)
        {
            o[s] = FallbackBits(row, bf16, s + 1);
            o[s + 1] = FallbackBits(row, bf16, s);
        }
        if (s < kc)
        {
            o[s] = 0;
            o[s + 1] = FallbackBits(row, bf16, s);
        }
    }
}
