using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// SGEMM micro-kernels. Each computes one MR×NR tile of C from a packed A micro-panel (kc steps of MR
/// floats, one per row) and a packed B micro-panel (kc steps of NR floats), keeping the whole tile in
/// registers: per k step, NR/W vector loads of B, MR broadcasts of A, MR·NR/W FMAs. Every path computes
/// each element as acc = fma(a[i,p], b[p,j], acc) for p in order, then c = fma(c, beta, alpha * acc)
/// (or alpha * acc when beta == 0), so all kernels and edge paths give bitwise identical results.
/// The bodies are written out in full, one local per accumulator, so that the JIT keeps every
/// accumulator in a register (checked with DOTNET_JitDisasm: no spills in the k loop).
/// </summary>
internal static unsafe class GemmKernels
{
    /// <summary>12x32 tile: C[0..12, 0..32] = alpha * (Ã·B̃) + beta * C (beta == 0: C not read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel12x32(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c0_0 = default; Vector512<float> c0_1 = default;
        Vector512<float> c1_0 = default; Vector512<float> c1_1 = default;
        Vector512<float> c2_0 = default; Vector512<float> c2_1 = default;
        Vector512<float> c3_0 = default; Vector512<float> c3_1 = default;
        Vector512<float> c4_0 = default; Vector512<float> c4_1 = default;
        Vector512<float> c5_0 = default; Vector512<float> c5_1 = default;
        Vector512<float> c6_0 = default; Vector512<float> c6_1 = default;
        Vector512<float> c7_0 = default; Vector512<float> c7_1 = default;
        Vector512<float> c8_0 = default; Vector512<float> c8_1 = default;
        Vector512<float> c9_0 = default; Vector512<float> c9_1 = default;
        Vector512<float> c10_0 = default; Vector512<float> c10_1 = default;
        Vector512<float> c11_0 = default; Vector512<float> c11_1 = default;
        // Pull the C tile toward L1 while the k loop runs (its rows are ldc apart, which the hardware
        // prefetcher does not follow).
        Sse.Prefetch0(c + 0 * ldc); Sse.Prefetch0(c + 0 * ldc + 31);
        Sse.Prefetch0(c + 1 * ldc); Sse.Prefetch0(c + 1 * ldc + 31);
        Sse.Prefetch0(c + 2 * ldc); Sse.Prefetch0(c + 2 * ldc + 31);
        Sse.Prefetch0(c + 3 * ldc); Sse.Prefetch0(c + 3 * ldc + 31);
        Sse.Prefetch0(c + 4 * ldc); Sse.Prefetch0(c + 4 * ldc + 31);
        Sse.Prefetch0(c + 5 * ldc); Sse.Prefetch0(c + 5 * ldc + 31);
        Sse.Prefetch0(c + 6 * ldc); Sse.Prefetch0(c + 6 * ldc + 31);
        Sse.Prefetch0(c + 7 * ldc); Sse.Prefetch0(c + 7 * ldc + 31);
        Sse.Prefetch0(c + 8 * ldc); Sse.Prefetch0(c + 8 * ldc + 31);
        Sse.Prefetch0(c + 9 * ldc); Sse.Prefetch0(c + 9 * ldc + 31);
        Sse.Prefetch0(c + 10 * ldc); Sse.Prefetch0(c + 10 * ldc + 31);
        Sse.Prefetch0(c + 11 * ldc); Sse.Prefetch0(c + 11 * ldc + 31);
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b + 0);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> a0 = Vector512.Create(a[0]);
            c0_0 = Avx512F.FusedMultiplyAdd(a0, b0, c0_0);
            c0_1 = Avx512F.FusedMultiplyAdd(a0, b1, c0_1);
            Vector512<float> a1 = Vector512.Create(a[1]);
            c1_0 = Avx512F.FusedMultiplyAdd(a1, b0, c1_0);
            c1_1 = Avx512F.FusedMultiplyAdd(a1, b1, c1_1);
            Vector512<float> a2 = Vector512.Create(a[2]);
            c2_0 = Avx512F.FusedMultiplyAdd(a2, b0, c2_0);
            c2_1 = Avx512F.FusedMultiplyAdd(a2, b1, c2_1);
            Vector512<float> a3 = Vector512.Create(a[3]);
            c3_0 = Avx512F.FusedMultiplyAdd(a3, b0, c3_0);
            c3_1 = Avx512F.FusedMultiplyAdd(a3, b1, c3_1);
            Vector512<float> a4 = Vector512.Create(a[4]);
            c4_0 = Avx512F.FusedMultiplyAdd(a4, b0, c4_0);
            c4_1 = Avx512F.FusedMultiplyAdd(a4, b1, c4_1);
            Vector512<float> a5 = Vector512.Create(a[5]);
            c5_0 = Avx512F.FusedMultiplyAdd(a5, b0, c5_0);
            c5_1 = Avx512F.FusedMultiplyAdd(a5, b1, c5_1);
            Vector512<float> a6 = Vector512.Create(a[6]);
            c6_0 = Avx512F.FusedMultiplyAdd(a6, b0, c6_0);
            c6_1 = Avx512F.FusedMultiplyAdd(a6, b1, c6_1);
            Vector512<float> a7 = Vector512.Create(a[7]);
            c7_0 = Avx512F.FusedMultiplyAdd(a7, b0, c7_0);
            c7_1 = Avx512F.FusedMultiplyAdd(a7, b1, c7_1);
            Vector512<float> a8 = Vector512.Create(a[8]);
            c8_0 = Avx512F.FusedMultiplyAdd(a8, b0, c8_0);
            c8_1 = Avx512F.FusedMultiplyAdd(a8, b1, c8_1);
            Vector512<float> a9 = Vector512.Create(a[9]);
            c9_0 = Avx512F.FusedMultiplyAdd(a9, b0, c9_0);
            c9_1 = Avx512F.FusedMultiplyAdd(a9, b1, c9_1);
            Vector512<float> a10 = Vector512.Create(a[10]);
            c10_0 = Avx512F.FusedMultiplyAdd(a10, b0, c10_0);
            c10_1 = Avx512F.FusedMultiplyAdd(a10, b1, c10_1);
            Vector512<float> a11 = Vector512.Create(a[11]);
            c11_0 = Avx512F.FusedMultiplyAdd(a11, b0, c11_0);
            c11_1 = Avx512F.FusedMultiplyAdd(a11, b1, c11_1);
            a += 12;
            b += 32;
        }
        Vector512<float> va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Vector512.Store(va * c0_0, c + 0 * ldc + 0);
            Vector512.Store(va * c0_1, c + 0 * ldc + 16);
            Vector512.Store(va * c1_0, c + 1 * ldc + 0);
            Vector512.Store(va * c1_1, c + 1 * ldc + 16);
            Vector512.Store(va * c2_0, c + 2 * ldc + 0);
            Vector512.Store(va * c2_1, c + 2 * ldc + 16);
            Vector512.Store(va * c3_0, c + 3 * ldc + 0);
            Vector512.Store(va * c3_1, c + 3 * ldc + 16);
            Vector512.Store(va * c4_0, c + 4 * ldc + 0);
            Vector512.Store(va * c4_1, c + 4 * ldc + 16);
            Vector512.Store(va * c5_0, c + 5 * ldc + 0);
            Vector512.Store(va * c5_1, c + 5 * ldc + 16);
            Vector512.Store(va * c6_0, c + 6 * ldc + 0);
            Vector512.Store(va * c6_1, c + 6 * ldc + 16);
            Vector512.Store(va * c7_0, c + 7 * ldc + 0);
            Vector512.Store(va * c7_1, c + 7 * ldc + 16);
            Vector512.Store(va * c8_0, c + 8 * ldc + 0);
            Vector512.Store(va * c8_1, c + 8 * ldc + 16);
            Vector512.Store(va * c9_0, c + 9 * ldc + 0);
            Vector512.Store(va * c9_1, c + 9 * ldc + 16);
            Vector512.Store(va * c10_0, c + 10 * ldc + 0);
            Vector512.Store(va * c10_1, c + 10 * ldc + 16);
            Vector512.Store(va * c11_0, c + 11 * ldc + 0);
            Vector512.Store(va * c11_1, c + 11 * ldc + 16);
        }
        else
        {
            Vector512<float> vb = Vector512.Create(beta);
            { float* q = c + 0 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c0_0), q); }
            { float* q = c + 0 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c0_1), q); }
            { float* q = c + 1 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c1_0), q); }
            { float* q = c + 1 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c1_1), q); }
            { float* q = c + 2 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c2_0), q); }
            { float* q = c + 2 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c2_1), q); }
            { float* q = c + 3 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c3_0), q); }
            { float* q = c + 3 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c3_1), q); }
            { float* q = c + 4 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c4_0), q); }
            { float* q = c + 4 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c4_1), q); }
            { float* q = c + 5 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c5_0), q); }
            { float* q = c + 5 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c5_1), q); }
            { float* q = c + 6 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c6_0), q); }
            { float* q = c + 6 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c6_1), q); }
            { float* q = c + 7 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c7_0), q); }
            { float* q = c + 7 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c7_1), q); }
            { float* q = c + 8 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c8_0), q); }
            { float* q = c + 8 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c8_1), q); }
            { float* q = c + 9 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c9_0), q); }
            { float* q = c + 9 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c9_1), q); }
            { float* q = c + 10 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c10_0), q); }
            { float* q = c + 10 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c10_1), q); }
            { float* q = c + 11 * ldc + 0; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c11_0), q); }
            { float* q = c + 11 * ldc + 16; Vector512.Store(Avx512F.FusedMultiplyAdd(Vector512.Load(q), vb, va * c11_1), q); }
        }
    }

    /// <summary>6x16 tile: C[0..6, 0..16] = alpha * (Ã·B̃) + beta * C (beta == 0: C not read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c0_0 = default; Vector256<float> c0_1 = default;
        Vector256<float> c1_0 = default; Vector256<float> c1_1 = default;
        Vector256<float> c2_0 = default; Vector256<float> c2_1 = default;
        Vector256<float> c3_0 = default; Vector256<float> c3_1 = default;
        Vector256<float> c4_0 = default; Vector256<float> c4_1 = default;
        Vector256<float> c5_0 = default; Vector256<float> c5_1 = default;
        // Pull the C tile toward L1 while the k loop runs (its rows are ldc apart, which the hardware
        // prefetcher does not follow).
        Sse.Prefetch0(c + 0 * ldc); Sse.Prefetch0(c + 0 * ldc + 15);
        Sse.Prefetch0(c + 1 * ldc); Sse.Prefetch0(c + 1 * ldc + 15);
        Sse.Prefetch0(c + 2 * ldc); Sse.Prefetch0(c + 2 * ldc + 15);
        Sse.Prefetch0(c + 3 * ldc); Sse.Prefetch0(c + 3 * ldc + 15);
        Sse.Prefetch0(c + 4 * ldc); Sse.Prefetch0(c + 4 * ldc + 15);
        Sse.Prefetch0(c + 5 * ldc); Sse.Prefetch0(c + 5 * ldc + 15);
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b + 0);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> a0 = Vector256.Create(a[0]);
            c0_0 = Fma.MultiplyAdd(a0, b0, c0_0);
            c0_1 = Fma.MultiplyAdd(a0, b1, c0_1);
            Vector256<float> a1 = Vector256.Create(a[1]);
            c1_0 = Fma.MultiplyAdd(a1, b0, c1_0);
            c1_1 = Fma.MultiplyAdd(a1, b1, c1_1);
            Vector256<float> a2 = Vector256.Create(a[2]);
            c2_0 = Fma.MultiplyAdd(a2, b0, c2_0);
            c2_1 = Fma.MultiplyAdd(a2, b1, c2_1);
            Vector256<float> a3 = Vector256.Create(a[3]);
            c3_0 = Fma.MultiplyAdd(a3, b0, c3_0);
            c3_1 = Fma.MultiplyAdd(a3, b1, c3_1);
            Vector256<float> a4 = Vector256.Create(a[4]);
            c4_0 = Fma.MultiplyAdd(a4, b0, c4_0);
            c4_1 = Fma.MultiplyAdd(a4, b1, c4_1);
            Vector256<float> a5 = Vector256.Create(a[5]);
            c5_0 = Fma.MultiplyAdd(a5, b0, c5_0);
            c5_1 = Fma.MultiplyAdd(a5, b1, c5_1);
            a += 6;
            b += 16;
        }
        Vector256<float> va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Vector256.Store(va * c0_0, c + 0 * ldc + 0);
            Vector256.Store(va * c0_1, c + 0 * ldc + 8);
            Vector256.Store(va * c1_0, c + 1 * ldc + 0);
            Vector256.Store(va * c1_1, c + 1 * ldc + 8);
            Vector256.Store(va * c2_0, c + 2 * ldc + 0);
            Vector256.Store(va * c2_1, c + 2 * ldc + 8);
            Vector256.Store(va * c3_0, c + 3 * ldc + 0);
            Vector256.Store(va * c3_1, c + 3 * ldc + 8);
            Vector256.Store(va * c4_0, c + 4 * ldc + 0);
            Vector256.Store(va * c4_1, c + 4 * ldc + 8);
            Vector256.Store(va * c5_0, c + 5 * ldc + 0);
            Vector256.Store(va * c5_1, c + 5 * ldc + 8);
        }
        else
        {
            Vector256<float> vb = Vector256.Create(beta);
            { float* q = c + 0 * ldc + 0; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c0_0), q); }
            { float* q = c + 0 * ldc + 8; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c0_1), q); }
            { float* q = c + 1 * ldc + 0; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c1_0), q); }
            { float* q = c + 1 * ldc + 8; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c1_1), q); }
            { float* q = c + 2 * ldc + 0; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c2_0), q); }
            { float* q = c + 2 * ldc + 8; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c2_1), q); }
            { float* q = c + 3 * ldc + 0; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c3_0), q); }
            { float* q = c + 3 * ldc + 8; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c3_1), q); }
            { float* q = c + 4 * ldc + 0; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c4_0), q); }
            { float* q = c + 4 * ldc + 8; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c4_1), q); }
            { float* q = c + 5 * ldc + 0; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c5_0), q); }
            { float* q = c + 5 * ldc + 8; Vector256.Store(Fma.MultiplyAdd(Vector256.Load(q), vb, va * c5_1), q); }
        }
    }

    /// <summary>Portable 4x8 tile with scalar fused multiply-adds (same arithmetic as the SIMD kernels).</summary>
    public static void Kernel4x8(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        float* acc = stackalloc float[32];
        for (int i = 0; i < 32; i++) acc[i] = 0f;
        for (int p = 0; p < kc; p++)
        {
            for (int r = 0; r < 4; r++)
            {
                float ar = a[r];
                float* row = acc + r * 8;
                for (int j = 0; j < 8; j++) row[j] = MathF.FusedMultiplyAdd(ar, b[j], row[j]);
            }
            a += 4;
            b += 8;
        }
        Merge(acc, 8, c, ldc, 4, 8, alpha, beta);
    }

    /// <summary>Writes the top-left rows×cols of a computed tile into C with the kernels' own
    /// alpha/beta arithmetic (used for edge tiles, which are computed into a scratch tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Merge(float* tile, int ldt, float* c, nint ldc, int rows, int cols, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++)
        {
            float* t = tile + r * ldt;
            float* q = c + r * ldc;
            if (beta == 0f)
                for (int j = 0; j < cols; j++) q[j] = alpha * t[j];
            else
                for (int j = 0; j < cols; j++) q[j] = MathF.FusedMultiplyAdd(q[j], beta, alpha * t[j]);
        }
    }
}
