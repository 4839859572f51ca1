using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C, built the BLIS way. C is cut
/// into tiles that the threads claim dynamically; for each tile, an MB×KC block of A is packed into MR-row micro-panels (kept in L3/L2), a
/// KC×NB block of B into NR-column micro-panels (kept in L2), and a register-blocked micro-kernel runs
/// over each MR-row A micro-panel (held in L1) against the B micro-panels. Packing absorbs the
/// transposes, so one kernel layout serves all four cases. Edge tiles run the same kernel on the
/// zero-padded panels into a scratch tile.
/// <para>Semantics (reference BLAS): beta == 0 means C is not read (old NaNs in C do not propagate);
/// alpha == 0 or k == 0 means A and B are not read and C = beta * C. Otherwise NaN and infinity
/// propagate as IEEE arithmetic says.</para>
/// <para>Determinism: every element of C is computed by one thread as acc = fma(a, b, acc) over k in
/// order within fixed KC blocks, so results do not depend on the thread count, the tiling or the ISA.</para>
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>K block, shared by every ISA so that results are bitwise identical across them.</summary>
    internal static int KC { get; private set; } = 256;
    // Below this many multiply-adds a GEMM runs on the calling thread only (hand-off costs microseconds).
    private const long ParallelMinFma = 1L << 19;
    // Each thread should get at least this many multiply-adds.
    private const long FmaPerThread = 1L << 18;

    private sealed class Config
    {
        public required GemmIsa Isa;
        public required int MR, NR, MB, NB;
        public required delegate*<int, float*, float*, float*, nint, float, float, void> Kernel;
    }

    private static readonly Config PortableConfig = new()
    { Isa = GemmIsa.Portable, MR = 4, NR = 8, MB = 256, NB = 256, Kernel = &GemmKernels.Kernel4x8 };
    private static readonly Config Avx2Config = new()
    { Isa = GemmIsa.Avx2, MR = 6, NR = 16, MB = 960, NB = 256, Kernel = &GemmKernels.Kernel6x16 };
    private static readonly Config Avx512Config = new()
    { Isa = GemmIsa.Avx512, MR = 12, NR = 32, MB = 960, NB = 512, Kernel = &GemmKernels.Kernel12x32 };

    /// <summary>Overrides the blocking sizes (benchmark tuning only; 0 keeps a value). KC changes the
    /// summation blocks and so the rounding of results.</summary>
    internal static void Tune(int kc, int mb, int nb)
    {
        if (kc > 0) KC = kc;
        if (mb > 0) _config.MB = (mb + _config.MR - 1) / _config.MR * _config.MR;
        if (nb > 0) _config.NB = (nb + _config.NR - 1) / _config.NR * _config.NR;
    }

    /// <summary>The micro-kernel and blocking in use, for <c>bertsharp info</c> and benchmark logs.</summary>
    public static string KernelDescription
    {
        get
        {
            var c = _config;
            return $"{c.Isa} {c.MR}x{c.NR} micro-kernel (KC {KC}, MB {c.MB}, NB {c.NB})";
        }
    }

    /// <summary>The best kernel family this machine runs.</summary>
    internal static GemmIsa BestIsa { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmIsa.Avx512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported && Avx2.IsSupported ? GemmIsa.Avx2
        : GemmIsa.Portable;

    private static Config _config = ConfigFor(BestIsa);

    /// <summary>Kernel family in use (tests and benchmarks switch it; it must be supported here).</summary>
    internal static GemmIsa Isa
    {
        get => _config.Isa;
        set
        {
            if (value > BestIsa) throw new PlatformNotSupportedException($"GEMM kernel {value} is not supported on this machine (best: {BestIsa}).");
            _config = ConfigFor(value);
        }
    }

    private static Config ConfigFor(GemmIsa isa) => isa switch
    {
        GemmIsa.Avx512 => Avx512Config,
        GemmIsa.Avx2 => Avx2Config,
        _ => PortableConfig,
    };

    /// <summary>C = alpha * op(A) * op(B) + beta * C. op(A) is m×k, op(B) is k×n, C is m×n, all row-major
    /// with leading dimensions. transA: A is stored k×m. transB: B is stored n×k. beta == 0: C is not read.
    /// C must not overlap A or B.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
                             ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
                             float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, lda, ldb, ldc);
        CheckLength("a", "lda", transA ? k : m, transA ? m : k, lda, a.Length, 0, 1);
        CheckLength("b", "ldb", transB ? n : k, transB ? k : n, ldb, b.Length, 0, 1);
        CheckLength("c", "ldc", m, n, ldc, c.Length, 0, 1);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0f)
            {
                ScaleC(pc, ldc, m, n, beta);
                return;
            }
            var g = new Args(transA, transB, m, n, k, alpha, beta, pa, lda, pb, ldb, pc, ldc);
            RunParallel(in g, _config);
        }
    }

    /// <summary>batchCount independent GEMMs; matrix i starts at offset i*stride in a, b and c (stride 0
    /// for A or B reuses one matrix). The C matrices must not overlap.</summary>
    public static void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
                                           ReadOnlySpan<float> a, int lda, long strideA,
                                           ReadOnlySpan<float> b, int ldb, long strideB,
                                           float beta, Span<float> c, int ldc, long strideC, int batchCount)
    {
        Validate(transA, transB, m, n, k, lda, ldb, ldc);
        if (batchCount < 0) throw new ArgumentOutOfRangeException(nameof(batchCount), batchCount, "batchCount must be non-negative.");
        if (strideA < 0) throw new ArgumentOutOfRangeException(nameof(strideA), strideA, "strideA must be non-negative.");
        if (strideB < 0) throw new ArgumentOutOfRangeException(nameof(strideB), strideB, "strideB must be non-negative.");
        if (strideC < 0) throw new ArgumentOutOfRangeException(nameof(strideC), strideC, "strideC must be non-negative.");
        if (strideC == 0 && batchCount > 1 && m > 0 && n > 0)
            throw new ArgumentException($"strideC: 0 would make {batchCount} batches write the same C", nameof(strideC));
        CheckLength("a", "lda", transA ? k : m, transA ? m : k, lda, a.Length, strideA, batchCount);
        CheckLength("b", "ldb", transB ? n : k, transB ? k : n, ldb, b.Length, strideB, batchCount);
        CheckLength("c", "ldc", m, n, ldc, c.Length, strideC, batchCount);
        if (m == 0 || n == 0 || batchCount == 0) return;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0f)
            {
                for (int i = 0; i < batchCount; i++) ScaleC(pc + i * strideC, ldc, m, n, beta);
                return;
            }
            var g = new Args(transA, transB, m, n, k, alpha, beta, pa, lda, pb, ldb, pc, ldc);
            var cfg = _config;
            long fma = (long)m * n * k;
            int threads = KernelParallel.ThreadCount;
            // Big GEMMs (or a single one) use every thread each; small ones run whole, one per thread.
            if (batchCount == 1 || threads == 1 || fma >= 16 * FmaPerThread * threads)
            {
                for (int i = 0; i < batchCount; i++)
                {
                    var gi = g.Offset(i * strideA, i * strideB, i * strideC);
                    RunParallel(in gi, cfg);
                }
                return;
            }
            // Threads claim groups of whole GEMMs (at least FmaPerThread of work, at least ~4 groups per
            // thread when the batch allows) dynamically, so a thread slowed by other work is not waited on.
            int grain = (int)Math.Clamp((FmaPerThread + fma - 1) / fma, 1, Math.Max(1, batchCount / (4 * threads)));
            int next = 0;
            var body = new BatchBody { G = g, Cfg = cfg, StrideA = strideA, StrideB = strideB, StrideC = strideC,
                                       Count = batchCount, Grain = grain, Next = &next };
            int groups = (batchCount + grain - 1) / grain;
            if (fma * batchCount < ParallelMinFma || groups == 1) body.Invoke(0, 1);
            else KernelParallel.For(Math.Min(threads, groups), 1, ref body);
        }
    }

    private static void Validate(bool transA, bool transB, int m, int n, int k, int lda, int ldb, int ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "m must be non-negative.");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "n must be non-negative.");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be non-negative.");
        CheckLd("a", "lda", transA ? k : m, transA ? m : k, lda);
        CheckLd("b", "ldb", transB ? n : k, transB ? k : n, ldb);
        CheckLd("c", "ldc", m, n, ldc);
    }

    private static void CheckLd(string name, string ldName, int rows, int cols, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"{ldName}: {ld} is less than the {cols} columns of {name} ({rows}x{cols})", ldName);
    }

    private static void CheckLength(string name, string ldName, int rows, int cols, int ld, int length, long stride, int batch)
    {
        if (rows == 0 || cols == 0 || batch == 0) return;
        long need = (long)(rows - 1) * ld + cols + (batch - 1) * stride;
        if (length < need)
        {
            string what = batch == 1 ? $"{rows}x{cols} ({ldName} {ld})" : $"{batch} batches of {rows}x{cols} ({ldName} {ld}, stride {stride})";
            throw new ArgumentException($"{name}: need {need} floats for {what}, got {length}", name);
        }
    }

    private static void ScaleC(float* c, nint ldc, int m, int n, float beta)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (beta == 0f) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    private readonly struct Args
    {
        public readonly bool TransA, TransB;
        public readonly int M, N, K;
        public readonly float Alpha, Beta;
        public readonly float* A, B, C;
        public readonly nint Lda, Ldb, Ldc;

        public Args(bool transA, bool transB, int m, int n, int k, float alpha, float beta,
                    float* a, nint lda, float* b, nint ldb, float* c, nint ldc)
        {
            TransA = transA; TransB = transB; M = m; N = n; K = k; Alpha = alpha; Beta = beta;
            A = a; Lda = lda; B = b; Ldb = ldb; C = c; Ldc = ldc;
        }

        public Args Offset(long da, long db, long dc)
            => new(TransA, TransB, M, N, K, Alpha, Beta, A + da, Lda, B + db, Ldb, C + dc, Ldc);
    }

    private static void RunParallel(in Args g, Config cfg)
    {
        long fma = (long)g.M * g.N * g.K;
        int threads = fma < ParallelMinFma ? 1 : (int)Math.Min(KernelParallel.ThreadCount, Math.Max(1, fma / FmaPerThread));
        if (threads == 1)
        {
            ComputeRegion(in g, cfg, 0, g.M, 0, g.N);
            return;
        }
        int mPanels = (g.M + cfg.MR - 1) / cfg.MR, nPanels = (g.N + cfg.NR - 1) / cfg.NR;
        ChooseGrid(g, cfg, threads, mPanels, nPanels, out int tm, out int tn);
        int next = 0;
        var body = new GridBody { G = g, Cfg = cfg, Tm = tm, Tn = tn, MPanels = mPanels, NPanels = nPanels, Next = &next };
        if (tm * tn == 1) body.Invoke(0, 1);
        else KernelParallel.For(Math.Min(threads, tm * tn), 1, ref body);
    }

    /// <summary>Splits C into tm×tn rectangles that the threads claim dynamically (so a thread slowed by
    /// other work on the machine does not hold the rest up), minimising the estimated finish time: the
    /// rounds of tiles times one tile's multiply-adds plus its packing (a packed float costs several
    /// multiply-adds' time; each tile packs its own A rows and B columns), with a small penalty for
    /// having few tiles per thread (exposure to interference). The result does not depend on the grid.</summary>
    private static void ChooseGrid(in Args g, Config cfg, int threads, int mPanels, int nPanels, out int tm, out int tn)
    {
        tm = 1; tn = 1;
        double best = double.MaxValue;
        int maxTiles = 8 * threads;
        for (int i = 1; i <= Math.Min(mPanels, maxTiles); i++)
        {
            for (int j = 1; j <= Math.Min(nPanels, maxTiles / i); j++)
            {
                double rows = (double)((mPanels + i - 1) / i) * cfg.MR, cols = (double)((nPanels + j - 1) / j) * cfg.NR;
                if (rows * cols * g.K < FmaPerThread && i * j > 1) continue;
                double tile = rows * cols * g.K + 8.0 * g.K * (rows + cols * Math.Ceiling(rows / cfg.MB));
                int tiles = i * j, rounds = (tiles + threads - 1) / threads;
                double cost = rounds * tile * (1 + 0.1 * threads / tiles);
                if (cost < best * 0.999) { best = cost; tm = i; tn = j; }
            }
        }
    }

    /// <summary>Tile t of a Tm × Tn grid over C: whole micro-panels (MR rows, NR columns) shared out evenly, clipped to
    /// M × N. Used by the float32 and bf16 drivers alike.</summary>
    internal static (int M0, int M1, int N0, int N1) TileBounds(int t, int tm, int tn, int mPanels, int nPanels, int mr, int nr, int m, int n)
    {
        int ti = t / tn, tj = t % tn;
        return (Math.Min(m, (int)((long)mPanels * ti / tm) * mr), Math.Min(m, (int)((long)mPanels * (ti + 1) / tm) * mr),
                Math.Min(n, (int)((long)nPanels * tj / tn) * nr), Math.Min(n, (int)((long)nPanels * (tj + 1) / tn) * nr));
    }

    private struct GridBody : IRangeBody
    {
        public Args G;
        public Config Cfg;
        public int Tm, Tn, MPanels, NPanels;
        public int* Next;

        public void Invoke(int start, int end)
        {
            // Tiles are claimed dynamically; which thread computes a tile does not change its result.
            int tiles = Tm * Tn;
            for (int t = Interlocked.Increment(ref *Next) - 1; t < tiles; t = Interlocked.Increment(ref *Next) - 1)
            {
                var (m0, m1, n0, n1) = TileBounds(t, Tm, Tn, MPanels, NPanels, Cfg.MR, Cfg.NR, G.M, G.N);
                if (m0 < m1 && n0 < n1) ComputeRegion(in G, Cfg, m0, m1, n0, n1);
            }
        }
    }

    private struct BatchBody : IRangeBody
    {
        public Args G;
        public Config Cfg;
        public long StrideA, StrideB, StrideC;
        public int Count, Grain;
        public int* Next;

        public void Invoke(int start, int end)
        {
            for (int g0 = Interlocked.Add(ref *Next, Grain) - Grain; g0 < Count; g0 = Interlocked.Add(ref *Next, Grain) - Grain)
            {
                for (int i = g0; i < Math.Min(Count, g0 + Grain); i++)
                {
                    var gi = G.Offset(i * StrideA, i * StrideB, i * StrideC);
                    ComputeRegion(in gi, Cfg, 0, gi.M, 0, gi.N);
                }
            }
        }
    }

    // Per-thread packing buffers, 64-byte aligned, grown on demand and kept for the thread's lifetime
    // (the kernels' worker team is fixed, so this is a bounded, one-off cost).
    [ThreadStatic] private static byte* t_packA;
    [ThreadStatic] private static long t_packACap;
    [ThreadStatic] private static byte* t_packB;
    [ThreadStatic] private static long t_packBCap;

    // The one grow-on-demand buffer of both GEMM families (float32 panels here, bf16 pairs and staging in Gemm.Bf16.cs).
    private static byte* AlignedBuffer(ref byte* p, ref long cap, long bytes)
    {
        if (cap < bytes)
        {
            if (p != null) NativeMemory.AlignedFree(p);
            p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            cap = bytes;
        }
        return p;
    }

    /// <summary>One thread computes C[m0..m1, n0..n1] (m0 a multiple of MR, n0 of NR).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeRegion(in Args g, Config cfg, int m0, int m1, int n0, int n1)
    {
        int mr = cfg.MR, nr = cfg.NR;
        int mbMax = Math.Min(cfg.MB, m1 - m0), nbMax = Math.Min(cfg.NB, n1 - n0), kcMax = Math.Min(KC, g.K);
        float* packA = (float*)AlignedBuffer(ref t_packA, ref t_packACap, sizeof(float) * (long)RoundUp(mbMax, mr) * kcMax);
        float* packB = (float*)AlignedBuffer(ref t_packB, ref t_packBCap, sizeof(float) * (long)RoundUp(nbMax, nr) * kcMax);
        float* tile = stackalloc float[mr * nr];
        var kernel = cfg.Kernel;
        nint ldc = g.Ldc;

        for (int i0 = m0; i0 < m1; i0 += cfg.MB)
        {
            int mb = Math.Min(cfg.MB, m1 - i0);
            for (int p0 = 0; p0 < g.K; p0 += KC)
            {
                int kc = Math.Min(KC, g.K - p0);
                float beta = p0 == 0 ? g.Beta : 1f;
                PackA(in g, i0, mb, p0, kc, packA, mr);
                for (int j0 = n0; j0 < n1; j0 += cfg.NB)
                {
                    int nb = Math.Min(cfg.NB, n1 - j0);
                    PackB(in g, p0, kc, j0, nb, packB, nr);
                    for (int ir = 0; ir < mb; ir += mr)
                    {
                        int rows = Math.Min(mr, mb - ir);
                        float* ap = packA + (nint)ir * kc;
                        float* cRow = g.C + (i0 + ir) * ldc + j0;
                        for (int jr = 0; jr < nb; jr += nr)
                        {
                            int cols = Math.Min(nr, nb - jr);
                            float* bp = packB + (nint)jr * kc;
                            if (rows == mr && cols == nr)
                                kernel(kc, ap, bp, cRow + jr, ldc, g.Alpha, beta);
                            else
                            {
                                kernel(kc, ap, bp, tile, nr, 1f, 0f);
                                GemmKernels.Merge(tile, nr, cRow + jr, ldc, rows, cols, g.Alpha, beta);
                            }
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>Packs op(A)[i0..i0+mb, p0..p0+kc] into MR-row micro-panels (kc steps of MR floats).</summary>
    private static void PackA(in Args g, int i0, int mb, int p0, int kc, float* dst, int mr)
    {
        if (g.TransA)
        {
            GemmPacking.Copy(g.A + p0 * g.Lda + i0, g.Lda, mb, kc, dst, mr);
            return;
        }
        for (int ir = 0; ir < mb; ir += mr, dst += mr * kc)
            GemmPacking.Transpose(g.A + (i0 + ir) * g.Lda + p0, g.Lda, Math.Min(mr, mb - ir), kc, dst, mr);
    }

    /// <summary>Packs op(B)[p0..p0+kc, j0..j0+nb] into NR-column micro-panels (kc steps of NR floats).</summary>
    private static void PackB(in Args g, int p0, int kc, int j0, int nb, float* dst, int nr)
    {
        if (!g.TransB)
        {
            GemmPacking.Copy(g.B + p0 * g.Ldb + j0, g.Ldb, nb, kc, dst, nr);
            return;
        }
        for (int jr = 0; jr < nb; jr += nr, dst += nr * kc)
            GemmPacking.Transpose(g.B + (j0 + jr) * g.Ldb + p0, g.Ldb, Math.Min(nr, nb - jr), kc, dst, nr);
    }

    /// <summary>
    /// outer × inner independent GEMMs C = alpha·op(A)·op(B) + beta·C where matrix (o, i) of each operand starts at
    /// o·strideOuter + i·strideInner (attention: outer = batch, inner = heads, reading Q, K, V in place).
    /// </summary>
    public static void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideAOuter, long strideAInner,
        ReadOnlySpan<float> b, int ldb, long strideBOuter, long strideBInner,
        float beta, Span<float> c, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
    {
        long lenA = Extent(transA ? k : m, transA ? m : k, lda), lenB = Extent(transB ? n : k, transB ? k : n, ldb), lenC = Extent(m, n, ldc);
        long lastA = (outer - 1) * strideAOuter + (inner - 1) * strideAInner + lenA;
        long lastB = (outer - 1) * strideBOuter + (inner - 1) * strideBInner + lenB;
        long lastC = (outer - 1) * strideCOuter + (inner - 1) * strideCInner + lenC;
        if (outer <= 0 || inner <= 0) return;
        if (a.Length < lastA || b.Length < lastB || c.Length < lastC)
            throw new ArgumentException($"batched GEMM: operands too short (a {a.Length} < {lastA}, b {b.Length} < {lastB} or c {c.Length} < {lastC})");
        fixed (float* pa = a, pb = b, pc = c)
        {
            var body = new Batched2DBody
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                A = pa, Lda = lda, SAo = strideAOuter, SAi = strideAInner, LenA = (int)lenA,
                B = pb, Ldb = ldb, SBo = strideBOuter, SBi = strideBInner, LenB = (int)lenB,
                C = pc, Ldc = ldc, SCo = strideCOuter, SCi = strideCInner, LenC = (int)lenC, Inner = inner,
            };
            // Each matrix runs whole on one thread (nested kernel calls run inline), so the result does not
            // depend on the thread count.
            KernelParallel.For(outer * inner, 1, ref body);
        }
    }

    private static long Extent(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    private unsafe struct Batched2DBody : IRangeBody
    {
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, LenA, LenB, LenC, Inner;
        public float Alpha, Beta;
        public float* A, B, C;
        public long SAo, SAi, SBo, SBi, SCo, SCi;

        public void Invoke(int start, int end)
        {
            for (int idx = start; idx < end; idx++)
            {
                int o = idx / Inner, i = idx % Inner;
                Sgemm(TransA, TransB, M, N, K, Alpha,
                    new ReadOnlySpan<float>(A + o * SAo + i * SAi, LenA), Lda,
                    new ReadOnlySpan<float>(B + o * SBo + i * SBi, LenB), Ldb, Beta,
                    new Span<float>(C + o * SCo + i * SCi, LenC), Ldc);
            }
        }
    }
}
