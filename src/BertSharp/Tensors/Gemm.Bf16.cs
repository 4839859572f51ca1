using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

public static unsafe partial class Gemm
{
    /// <summary>K block of the bf16 GEMM (even, so no k pair straddles two blocks), shared by both paths.</summary>
    internal static int KCBf16 { get; private set; } = 1024;

    private static int _mbBf16 = 960, _nbBf16 = 256;

    /// <summary>The best bf16 path this machine runs.</summary>
    internal static GemmBf16Path BestBf16Path { get; } =
        GemmBf16Kernel.Current != null ? GemmBf16Path.Avx512Bf16 : GemmBf16Path.Fallback;

    private static GemmBf16Path _bf16Path = BestBf16Path;

    /// <summary>bf16 path in use (tests and benchmarks switch it; it must be supported here).</summary>
    internal static GemmBf16Path Bf16Path
    {
        get => _bf16Path;
        set
        {
            if (value > BestBf16Path)
                throw new PlatformNotSupportedException($"bf16 GEMM path {value} is not available here ({GemmBf16Kernel.Unavailable}).");
            _bf16Path = value;
        }
    }

    /// <summary>Overrides the bf16 blocking (benchmark tuning only; 0 keeps a value). KC changes the summation blocks
    /// and so the rounding of results; it is rounded up to even.</summary>
    internal static void TuneBf16(int kc, int mb, int nb)
    {
        if (kc > 0) KCBf16 = (kc + 1) & ~1;
        if (mb > 0) _mbBf16 = mb;
        if (nb > 0) _nbBf16 = nb;
    }

    /// <summary>The bf16 GEMM's path and blocking, for logs.</summary>
    public static string Bf16KernelDescription => _bf16Path == GemmBf16Path.Avx512Bf16
        ? $"AVX512_BF16 vdpbf16ps {GemmBf16Kernel.Current!.Description} generated micro-kernel (KC {KCBf16}, MB {_mbBf16}, NB {_nbBf16})"
        : $"fallback: bf16 packed as float32, {_config.Isa} {_config.MR}x{_config.NR} micro-kernel (KC {KCBf16})"
          + (GemmBf16Kernel.Unavailable is { } why ? $"; vdpbf16ps unavailable: {why}" : "");

    // ---------------------------------------------------------------- public surface

    /// <summary>C = alpha·op(A)·op(B) + beta·C with A and B rounded to bfloat16 (nearest even) as they are packed,
    /// exact products and float32 accumulation; otherwise <see cref="Sgemm"/>'s contract (row-major, leading
    /// dimensions, beta == 0: C not read; alpha == 0 or k == 0: A and B not read; C must not overlap A or B). Each of
    /// A, B and C is either <c>float</c> (float32: A and B are rounded while packed) or <c>ushort</c> (bfloat16 bit
    /// patterns: A and B are only rearranged; C is read as float32 and written rounded to nearest even, once, after the
    /// whole sum). The same values give the same bits whichever type carried them. Results are bitwise identical for
    /// any thread count; Tensors/README.md says how the sums round.</summary>
    public static void SgemmBf16<TA, TB, TC>(bool transA, bool transB, int m, int n, int k, float alpha,
                                             ReadOnlySpan<TA> a, int lda, ReadOnlySpan<TB> b, int ldb,
                                             float beta, Span<TC> c, int ldc)
        where TA : unmanaged where TB : unmanaged where TC : unmanaged
        => SgemmBf16StridedBatched(transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);

    /// <summary>batchCount independent bf16 GEMMs (<see cref="SgemmStridedBatched"/>'s contract: matrix i at offset
    /// i·stride elements, stride 0 for A or B reuses one matrix, the C matrices must not overlap); element types as
    /// <see cref="SgemmBf16{TA, TB, TC}"/>.</summary>
    public static void SgemmBf16StridedBatched<TA, TB, TC>(bool transA, bool transB, int m, int n, int k, float alpha,
                                                           ReadOnlySpan<TA> a, int lda, long strideA,
                                                           ReadOnlySpan<TB> b, int ldb, long strideB,
                                                           float beta, Span<TC> c, int ldc, long strideC, int batchCount)
        where TA : unmanaged where TB : unmanaged where TC : unmanaged
    {
        bool aBf16 = IsBf16<TA>("a"), bBf16 = IsBf16<TB>("b"), cBf16 = IsBf16<TC>("c");
        fixed (TA* pa = a) fixed (TB* pb = b) fixed (TC* pc = c)
            Bf16Entry(transA, transB, m, n, k, alpha, pa, aBf16, a.Length, lda, strideA, pb, bBf16, b.Length, ldb, strideB,
                      beta, pc, cBf16, c.Length, ldc, strideC, batchCount);
    }

    /// <summary><see cref="SgemmBatched2D"/> in bf16: outer × inner GEMMs, matrix (o, i) of each operand at
    /// o·strideOuter + i·strideInner elements, each run whole on one thread (attention: outer = batch, inner = heads);
    /// element types as <see cref="SgemmBf16{TA, TB, TC}"/>.</summary>
    public static void SgemmBf16Batched2D<TA, TB, TC>(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<TA> a, int lda, long strideAOuter, long strideAInner,
        ReadOnlySpan<TB> b, int ldb, long strideBOuter, long strideBInner,
        float beta, Span<TC> c, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
        where TA : unmanaged where TB : unmanaged where TC : unmanaged
    {
        bool aBf16 = IsBf16<TA>("a"), bBf16 = IsBf16<TB>("b"), cBf16 = IsBf16<TC>("c");
        fixed (TA* pa = a) fixed (TB* pb = b) fixed (TC* pc = c)
            Bf16Batched2D(transA, transB, m, n, k, alpha, pa, aBf16, a.Length, lda, strideAOuter, strideAInner,
                pb, bBf16, b.Length, ldb, strideBOuter, strideBInner, beta, pc, cBf16, c.Length, ldc, strideCOuter, strideCInner, outer, inner);
    }

    private static bool IsBf16<T>(string name) where T : unmanaged
        => typeof(T) == typeof(ushort) ? true
         : typeof(T) == typeof(float) ? false
         : throw new ArgumentException($"{name}: element type {typeof(T).Name} is neither float (float32) nor ushort (bfloat16 bits)", name);

    // ---------------------------------------------------------------- driver

    private readonly struct Args16
    {
        public readonly bool TransA, TransB, ABf16, BBf16, CBf16;
        public readonly int M, N, K;
        public readonly float Alpha, Beta;
        public readonly void* A, B, C;
        public readonly nint Lda, Ldb, Ldc;

        public Args16(bool transA, bool transB, int m, int n, int k, float alpha, float beta,
                      void* a, bool aBf16, nint lda, void* b, bool bBf16, nint ldb, void* c, bool cBf16, nint ldc)
        {
            TransA = transA; TransB = transB; M = m; N = n; K = k; Alpha = alpha; Beta = beta;
            A = a; ABf16 = aBf16; Lda = lda; B = b; BBf16 = bBf16; Ldb = ldb; C = c; CBf16 = cBf16; Ldc = ldc;
        }

        public Args16 Offset(long da, long db, long dc)
            => new(TransA, TransB, M, N, K, Alpha, Beta, At(A, ABf16, (nint)da), ABf16, Lda,
                   At(B, BBf16, (nint)db), BBf16, Ldb, At(C, CBf16, (nint)dc), CBf16, Ldc);
    }

    /// <summary>The blocking of one call: the fast path's or the fallback's (the current float32 kernel family's tile).</summary>
    private sealed class Bf16Setup
    {
        public required bool Pairs;
        public GemmBf16Kernel.Variant? Jit;
        public required GemmIsa Isa;
        public required int MR, NR, MB, NB, KC;
        public required delegate*<int, float*, float*, float*, nint, float, float, void> FloatKernel;
        public Config Grid => _grid ??= new Config { Isa = GemmIsa.Portable, MR = MR, NR = NR, MB = MB, NB = NB, Kernel = null };
        private Config? _grid;
    }

    private static Bf16Setup CurrentBf16Setup()
    {
        if (_bf16Path == GemmBf16Path.Avx512Bf16)
        {
            var v = GemmBf16Kernel.Current!;
            return new() { Pairs = true, Jit = v, Isa = GemmIsa.Avx512, MR = v.MR, NR = v.NR, MB = RoundUp(_mbBf16, v.MR), NB = RoundUp(_nbBf16, v.NR), KC = KCBf16, FloatKernel = null };
        }
        var cfg = _config;
        return new() { Pairs = false, Isa = cfg.Isa, MR = cfg.MR, NR = cfg.NR, MB = cfg.MB, NB = cfg.NB, KC = KCBf16, FloatKernel = cfg.Kernel };
    }

    // Cached setups (one allocation per path/ISA/tuning change, not per call).
    private static Bf16Setup? _setupCache;

    private static Bf16Setup Setup()
    {
        var s = _setupCache;
        bool pairs = _bf16Path == GemmBf16Path.Avx512Bf16;
        if (s != null && s.Pairs == pairs && s.KC == KCBf16 &&
            (pairs ? s.Jit == GemmBf16Kernel.Current && s.MB == RoundUp(_mbBf16, s.MR) && s.NB == RoundUp(_nbBf16, s.NR) : s.Isa == _config.Isa && s.MB == _config.MB && s.NB == _config.NB))
            return s;
        return _setupCache = CurrentBf16Setup();
    }

    private static void Bf16Entry(bool transA, bool transB, int m, int n, int k, float alpha,
                                  void* pa, bool aBf16, int aLength, int lda, long strideA,
                                  void* pb, bool bBf16, int bLength, int ldb, long strideB,
                                  float beta, void* pc, bool cBf16, int cLength, int ldc, long strideC, int batchCount,
                                  bool whole = false)
    {
        Validate(transA, transB, m, n, k, lda, ldb, ldc);
        if (batchCount < 0) throw new ArgumentOutOfRangeException(nameof(batchCount), batchCount, "batchCount must be non-negative.");
        if (strideA < 0) throw new ArgumentOutOfRangeException(nameof(strideA), strideA, "strideA must be non-negative.");
        if (strideB < 0) throw new ArgumentOutOfRangeException(nameof(strideB), strideB, "strideB must be non-negative.");
        if (strideC < 0) throw new ArgumentOutOfRangeException(nameof(strideC), strideC, "strideC must be non-negative.");
        if (strideC == 0 && batchCount > 1 && m > 0 && n > 0)
            throw new ArgumentException($"strideC: 0 would make {batchCount} batches write the same C", nameof(strideC));
        CheckLength("a", "lda", transA ? k : m, transA ? m : k, lda, aLength, strideA, batchCount);
        CheckLength("b", "ldb", transB ? n : k, transB ? k : n, ldb, bLength, strideB, batchCount);
        CheckLength("c", "ldc", m, n, ldc, cLength, strideC, batchCount);
        if (m == 0 || n == 0 || batchCount == 0) return;
        if (k == 0 || alpha == 0f)
        {
            for (int i = 0; i < batchCount; i++)
            {
                if (!cBf16) ScaleC((float*)pc + i * strideC, ldc, m, n, beta);
                else ScaleCBf16((ushort*)pc + i * strideC, ldc, m, n, beta);
            }
            return;
        }
        var g = new Args16(transA, transB, m, n, k, alpha, beta, pa, aBf16, lda, pb, bBf16, ldb, pc, cBf16, ldc);
        if (whole && batchCount == 1) ComputeRegionBf16(in g, Setup(), 0, m, 0, n);
        else RunBatchBf16(in g, Setup(), strideA, strideB, strideC, batchCount);
    }

    /// <summary>C = bf16(beta · C) (beta == 0: zeros, C not read; beta == 1: untouched).</summary>
    private static void ScaleCBf16(ushort* c, nint ldc, int m, int n, float beta)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<ushort>(c + i * ldc, n);
            if (beta == 0f) row.Clear();
            else for (int j = 0; j < n; j++) row[j] = BFloat16.FromSingle(beta * BFloat16.ToSingle(row[j]));
        }
    }

    private static void RunBatchBf16(in Args16 g, Bf16Setup s, long strideA, long strideB, long strideC, int batchCount)
    {
        long fma = (long)g.M * g.N * g.K;
        int threads = KernelParallel.ThreadCount;
        if (batchCount == 1 || threads == 1 || fma >= 16 * FmaPerThread * threads)
        {
            for (int i = 0; i < batchCount; i++)
            {
                var gi = g.Offset(i * strideA, i * strideB, i * strideC);
                RunParallelBf16(in gi, s);
            }
            return;
        }
        int grain = (int)Math.Clamp((FmaPerThread + fma - 1) / fma, 1, Math.Max(1, batchCount / (4 * threads)));
        int next = 0;
        var body = new BatchBodyBf16 { G = g, S = s, StrideA = strideA, StrideB = strideB, StrideC = strideC,
                                       Count = batchCount, Grain = grain, Next = &next };
        int groups = (batchCount + grain - 1) / grain;
        if (fma * batchCount < ParallelMinFma || groups == 1) body.Invoke(0, 1);
        else KernelParallel.For(Math.Min(threads, groups), 1, ref body);
    }

    private static void RunParallelBf16(in Args16 g, Bf16Setup s)
    {
        long fma = (long)g.M * g.N * g.K;
        int threads = fma < ParallelMinFma ? 1 : (int)Math.Min(KernelParallel.ThreadCount, Math.Max(1, fma / FmaPerThread));
        if (threads == 1)
        {
            ComputeRegionBf16(in g, s, 0, g.M, 0, g.N);
            return;
        }
        int mPanels = (g.M + s.MR - 1) / s.MR, nPanels = (g.N + s.NR - 1) / s.NR;
        var shape = new Args(false, false, g.M, g.N, g.K, 0f, 0f, null, 1, null, 1, null, 1);
        ChooseGrid(in shape, s.Grid, threads, mPanels, nPanels, out int tm, out int tn);
        int next = 0;
        var body = new GridBodyBf16 { G = g, S = s, Tm = tm, Tn = tn, MPanels = mPanels, NPanels = nPanels, Next = &next };
        if (tm * tn == 1) body.Invoke(0, 1);
        else KernelParallel.For(Math.Min(threads, tm * tn), 1, ref body);
    }

    private struct GridBodyBf16 : IRangeBody
    {
        public Args16 G;
        public Bf16Setup S;
        public int Tm, Tn, MPanels, NPanels;
        public int* Next;

        public void Invoke(int start, int end)
        {
            int tiles = Tm * Tn;
            for (int t = Interlocked.Increment(ref *Next) - 1; t < tiles; t = Interlocked.Increment(ref *Next) - 1)
            {
                var (m0, m1, n0, n1) = TileBounds(t, Tm, Tn, MPanels, NPanels, S.MR, S.NR, G.M, G.N);
                if (m0 < m1 && n0 < n1) ComputeRegionBf16(in G, S, m0, m1, n0, n1);
            }
        }
    }

    private struct BatchBodyBf16 : IRangeBody
    {
        public Args16 G;
        public Bf16Setup S;
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
                    ComputeRegionBf16(in gi, S, 0, gi.M, 0, gi.N);
                }
            }
        }
    }

    [ThreadStatic] private static byte* t_packA16;
    [ThreadStatic] private static long t_packA16Cap;
    [ThreadStatic] private static byte* t_packB16;
    [ThreadStatic] private static long t_packB16Cap;
    [ThreadStatic] private static byte* t_stage16;
    [ThreadStatic] private static long t_stage16Cap;
    [ThreadStatic] private static byte* t_cBlock16;
    [ThreadStatic] private static long t_cBlock16Cap;

    /// <summary>One thread computes C[m0..m1, n0..n1] (m0 a multiple of MR, n0 of NR) in the float32 GEMM's loop order:
    /// MB row blocks, KC k blocks (beta applied in the first), NB column blocks, micro-tiles. A bf16 C is computed
    /// per MB×NB block in a float32 buffer (holding float32(C) first when beta != 0), with the same kernel calls in the
    /// same order, and rounded into C once at the end, so it is exactly the rounding of the float32-C result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeRegionBf16(in Args16 g, Bf16Setup s, int m0, int m1, int n0, int n1)
    {
        int mr = s.MR, nr = s.NR;
        bool pairs = s.Pairs;
        int mbMax = Math.Min(s.MB, m1 - m0), nbMax = Math.Min(s.NB, n1 - n0), kcMax = Math.Min(s.KC, g.K);
        int stepsMax = pairs ? (kcMax + 1) / 2 : (kcMax + 1) & ~1;   // dword steps per panel
        uint* packA = (uint*)AlignedBuffer(ref t_packA16, ref t_packA16Cap, 4L * RoundUp(mbMax, mr) * stepsMax);
        uint* packB = (uint*)AlignedBuffer(ref t_packB16, ref t_packB16Cap, 4L * RoundUp(nbMax, nr) * stepsMax);
        uint* stage = (uint*)AlignedBuffer(ref t_stage16, ref t_stage16Cap, 4L * Math.Max((long)Math.Max(mr, nr) * stepsMax, Math.Max(mbMax, nbMax)));
        float* tile = stackalloc float[mr * nr];

        if (!g.CBf16)
        {
            for (int i0 = m0; i0 < m1; i0 += s.MB)
            {
                int mb = Math.Min(s.MB, m1 - i0);
                for (int p0 = 0; p0 < g.K; p0 += s.KC)
                {
                    int kc = Math.Min(s.KC, g.K - p0);
                    PackABlock(in g, s, i0, mb, p0, kc, packA, stage);
                    for (int j0 = n0; j0 < n1; j0 += s.NB)
                    {
                        int nb = Math.Min(s.NB, n1 - j0);
                        PackBBlock(in g, s, p0, kc, j0, nb, packB, stage);
                        Tiles(in g, s, packA, packB, mb, nb, kc, p0 == 0 ? g.Beta : 1f, (float*)g.C + i0 * g.Ldc + j0, g.Ldc, tile);
                    }
                }
            }
            return;
        }
        float* block = (float*)AlignedBuffer(ref t_cBlock16, ref t_cBlock16Cap, 4L * mbMax * nbMax);
        for (int i0 = m0; i0 < m1; i0 += s.MB)
        {
            int mb = Math.Min(s.MB, m1 - i0);
            for (int j0 = n0; j0 < n1; j0 += s.NB)
            {
                int nb = Math.Min(s.NB, n1 - j0);
                ushort* c = (ushort*)g.C + i0 * g.Ldc + j0;
                if (g.Beta != 0f)
                    for (int r = 0; r < mb; r++) BFloat16.ToSingle(c + r * g.Ldc, block + (nint)r * nb, nb);
                for (int p0 = 0; p0 < g.K; p0 += s.KC)
                {
                    int kc = Math.Min(s.KC, g.K - p0);
                    PackABlock(in g, s, i0, mb, p0, kc, packA, stage);
                    PackBBlock(in g, s, p0, kc, j0, nb, packB, stage);
                    Tiles(in g, s, packA, packB, mb, nb, kc, p0 == 0 ? g.Beta : 1f, block, nb, tile);
                }
                for (int r = 0; r < mb; r++) BFloat16.FromSingle(block + (nint)r * nb, c + r * g.Ldc, nb);
            }
        }
    }

    /// <summary>Packs op(A)[i0..i0+mb, p0..p0+kc] (transA stores A k×m: then the panel direction is contiguous).</summary>
    private static void PackABlock(in Args16 g, Bf16Setup s, int i0, int mb, int p0, int kc, uint* packA, uint* stage)
        => GemmBf16Packing.Pack(g.TransA ? At(g.A, g.ABf16, p0 * g.Lda + i0) : At(g.A, g.ABf16, i0 * g.Lda + p0),
                                g.ABf16, g.Lda, g.TransA, mb, kc, packA, s.MR, s.Pairs, stage);

    /// <summary>Packs op(B)[p0..p0+kc, j0..j0+nb] (B not transposed: the panel direction is contiguous).</summary>
    private static void PackBBlock(in Args16 g, Bf16Setup s, int p0, int kc, int j0, int nb, uint* packB, uint* stage)
        => GemmBf16Packing.Pack(g.TransB ? At(g.B, g.BBf16, j0 * g.Ldb + p0) : At(g.B, g.BBf16, p0 * g.Ldb + j0),
                                g.BBf16, g.Ldb, !g.TransB, nb, kc, packB, s.NR, s.Pairs, stage);

    /// <summary>The micro-tiles of one packed mb×kc A block against one packed kc×nb B block, into float32 C (ldc);
    /// edge tiles go through a scratch tile and the kernels' own alpha/beta merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiles(in Args16 g, Bf16Setup s, uint* packA, uint* packB, int mb, int nb, int kc, float beta,
                              float* c, nint ldc, float* tile)
    {
        int mr = s.MR, nr = s.NR;
        bool pairs = s.Pairs;
        int steps = pairs ? (kc + 1) / 2 : (kc + 1) & ~1;
        var fk = s.FloatKernel;
        var jit = !pairs ? null : beta == 0f ? s.Jit!.Beta0 : s.Jit!.General;
        var jitAcc = pairs ? s.Jit!.Beta0 : null;
        float alpha = g.Alpha;
        for (int ir = 0; ir < mb; ir += mr)
        {
            int rows = Math.Min(mr, mb - ir);
            uint* ap = packA + (nint)ir * steps;
            float* cRow = c + ir * ldc;
            for (int jr = 0; jr < nb; jr += nr)
            {
                int cols = Math.Min(nr, nb - jr);
                uint* bp = packB + (nint)jr * steps;
                bool full = rows == mr && cols == nr;
                if (pairs)
                {
                    if (full) jit(steps, (ushort*)ap, (ushort*)bp, cRow + jr, ldc, alpha, beta);
                    else
                    {
                        jitAcc(steps, (ushort*)ap, (ushort*)bp, tile, nr, 1f, 0f);
                        GemmKernels.Merge(tile, nr, cRow + jr, ldc, rows, cols, alpha, beta);
                    }
                }
                else if (full) fk(steps, (float*)ap, (float*)bp, cRow + jr, ldc, alpha, beta);
                else
                {
                    fk(steps, (float*)ap, (float*)bp, tile, nr, 1f, 0f);
                    GemmKernels.Merge(tile, nr, cRow + jr, ldc, rows, cols, alpha, beta);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void* At(void* x, bool bf16, nint i) => (byte*)x + (bf16 ? 2 : 4) * i;

    private static void Bf16Batched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        void* a, bool aBf16, int aLength, int lda, long strideAOuter, long strideAInner,
        void* b, bool bBf16, int bLength, int ldb, long strideBOuter, long strideBInner,
        float beta, void* c, bool cBf16, int cLength, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
    {
        if (outer <= 0 || inner <= 0) return;
        long lenA = Extent(transA ? k : m, transA ? m : k, lda), lenB = Extent(transB ? n : k, transB ? k : n, ldb), lenC = Extent(m, n, ldc);
        long lastA = (outer - 1) * strideAOuter + (inner - 1) * strideAInner + lenA;
        long lastB = (outer - 1) * strideBOuter + (inner - 1) * strideBInner + lenB;
        long lastC = (outer - 1) * strideCOuter + (inner - 1) * strideCInner + lenC;
        if (aLength < lastA || bLength < lastB || cLength < lastC)
            throw new ArgumentException($"batched GEMM: operands too short (a {aLength} < {lastA}, b {bLength} < {lastB} or c {cLength} < {lastC})");
        {
            var body = new Batched2DBf16Body
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                A = a, ABf16 = aBf16, Lda = lda, SAo = strideAOuter, SAi = strideAInner, LenA = (int)lenA,
                B = b, BBf16 = bBf16, Ldb = ldb, SBo = strideBOuter, SBi = strideBInner, LenB = (int)lenB,
                C = c, CBf16 = cBf16, Ldc = ldc, SCo = strideCOuter, SCi = strideCInner, LenC = (int)lenC, Inner = inner,
            };
            // Each matrix runs whole on one thread as one region (not split into the grid of a parallel call, whose
            // tiles would run inline one after another, each packing its own copy of the other operand), so the
            // result does not depend on the thread count.
            KernelParallel.For(outer * inner, 1, ref body);
        }
    }

    private struct Batched2DBf16Body : IRangeBody
    {
        public bool TransA, TransB, ABf16, BBf16, CBf16;
        public int M, N, K, Lda, Ldb, Ldc, LenA, LenB, LenC, Inner;
        public float Alpha, Beta;
        public void* A, B, C;
        public long SAo, SAi, SBo, SBi, SCo, SCi;

        public void Invoke(int start, int end)
        {
            for (int idx = start; idx < end; idx++)
            {
                int o = idx / Inner, i = idx % Inner;
                Bf16Entry(TransA, TransB, M, N, K, Alpha, At(A, ABf16, (nint)(o * SAo + i * SAi)), ABf16, LenA, Lda, 0,
                          At(B, BBf16, (nint)(o * SBo + i * SBi)), BBf16, LenB, Ldb, 0, Beta,
                          At(C, CBf16, (nint)(o * SCo + i * SCi)), CBf16, LenC, Ldc, 0, 1, whole: true);
            }
        }
    }
}
