using System.Diagnostics;
using System.Runtime.InteropServices;
using BertSharp.Tensors;

namespace BertSharp.Bench.Suites;

/// <summary>
/// bf16 GEMM throughput against our float32 SGEMM on the same shapes and threads, interleaved rounds (FMA peak sample,
/// fp32, bf16 with float32 operands rounded while packing, bf16 with operands already bf16). Options: --threads N
/// (default 2), --rounds R, --only TEXT, --train (the BERT-small training step's GEMM forms instead), --fallback (force the non-vdpbf16ps path), --kernel (the micro-kernel alone),
/// and for tuning --kc N --mb N --nb N (bf16 blocking), --best (best-of instead of medians).
/// </summary>
public sealed unsafe class GemmBf16Suite : IBenchSuite
{
    public string Name => "gemm-bf16";
    public string Description => "bf16 GEMM (vdpbf16ps) GFLOP/s vs our float32 SGEMM on BERT shapes";

    private sealed record Shape(string Name, int M, int K, int N, bool TransA, bool TransB);

    // --train: the GEMM forms of a BERT-small training step (batch 8 x 512 tokens), as `train --gemm-shapes` runs them.
    private static List<Shape> TrainShapes() => new()
    {
        new("4096x512x1536 A·Bᵀ (qkv fwd)", 4096, 512, 1536, false, true),
        new("1536x4096x512 Aᵀ·B (qkv dW)", 1536, 4096, 512, true, false),
        new("2048x4096x512 Aᵀ·B (ffn1 dW)", 2048, 4096, 512, true, false),
        new("512x4096x2048 Aᵀ·B (ffn2 dW)", 512, 4096, 2048, true, false),
        new("4096x1536x512 A·B (qkv dx)", 4096, 1536, 512, false, false),
        new("4096x2048x512 A·B (ffn1 dx)", 4096, 2048, 512, false, false),
        new("640x30522x512 A·B (mlm dt)", 640, 30522, 512, false, false),
    };

    private static bool _train;

    private static List<Shape> Shapes()
    {
        if (_train) return TrainShapes();
        var list = new List<Shape> { new("1024x1024x1024 A·B", 1024, 1024, 1024, false, false) };
        foreach (var (m, k, n) in new[] { (4096, 768, 768), (4096, 768, 3072), (4096, 3072, 768) })
        {
            list.Add(new($"{m}x{k}x{n} A·Bᵀ (fwd)", m, k, n, false, true));
            list.Add(new($"{m}x{k}x{n} Aᵀ·B", m, k, n, true, false));
            list.Add(new($"{m}x{k}x{n} A·B", m, k, n, false, false));
        }
        return list;
    }

    private bool _best;
    // Tuning on a loaded machine: one thread, timed by its own CPU time (time-slicing by other processes drops out).
    private static bool _cpuTime;

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, long* ts);

    private static double Now()
    {
        if (!_cpuTime) return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
        long* ts = stackalloc long[2];
        ClockGetTime(3, ts);   // CLOCK_THREAD_CPUTIME_ID
        return ts[0] + ts[1] * 1e-9;
    }

    public int Run(string[] args)
    {
        int threads = 2, rounds = 5;
        string? only = null;
        bool attention = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                case "--best": _best = true; break;
                case "--train": _train = true; break;
                case "--no-prefetch": GemmBf16Packing.PrefetchRows = false; break;
                case "--attention": attention = true; break;
                case "--staged-copy": GemmBf16Packing.DirectCopy = false; break;   // the packer before the direct copy path
                case "--cpu-time": _cpuTime = true; threads = 1; break;
                case "--fallback": Gemm.Bf16Path = GemmBf16Path.Fallback; break;
                case "--kernel": _cpuTime = true; return KernelOnly();
                case "--tile":   // MRxNR[,bcst-operand][,unroll2], e.g. 12x32 or 8x48,unroll2
                {
                    var parts = args[++i].Split(',');
                    var mn = parts[0].Split('x');
                    GemmBf16Kernel.Use(GemmBf16Kernel.Build(int.Parse(mn[0]), int.Parse(mn[1]) / 16, !parts.Contains("bcst-operand"), parts.Contains("unroll2") ? 2 : 1));
                    break;
                }
                case "--pack": return PackOnly();
                case "--kc": Gemm.TuneBf16(int.Parse(args[++i]), 0, 0); break;
                case "--mb": Gemm.TuneBf16(0, int.Parse(args[++i]), 0); break;
                case "--nb": Gemm.TuneBf16(0, 0, int.Parse(args[++i])); break;
                default: Console.Error.WriteLine($"gemm-bf16: unknown option {args[i]}"); return 2;
            }
        }
        if (attention) { _cpuTime = threads == 1; return Attention(rounds, threads); }
        KernelParallel.ThreadCount = threads;
        Console.WriteLine($"fp32: {Gemm.KernelDescription}");
        Console.WriteLine($"bf16: {Gemm.Bf16KernelDescription}");
        Console.WriteLine($"threads {threads}; {Environment.ProcessorCount} processors; {rounds} interleaved rounds, {(_best ? "best" : "median")} of 3 timed calls each");
        double peak0 = _cpuTime ? double.NaN : GemmSuite.FmaPeak(threads, 5);
        Console.WriteLine($"FMA peak (register-only float32, {threads} threads): {peak0:F1} GFLOP/s at start (the bf16 dot-product peak is twice it)");
        Console.WriteLine();
        Console.WriteLine($"{"shape (M x K x N)",-30} {"fp32 GF/s",10} {"bf16 GF/s",10} {"bf16 in",10} {"bf16/fp32",10} {"in/fp32",8} {"peak",8} {"bf16/2pk",9}");
        var ratios = new List<double>();
        var peaks = new List<double> { peak0 };
        foreach (var s in Shapes())
        {
            if (only != null && !s.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            var (f32, bf, bfIn, peak) = Measure(s, rounds, threads);
            peaks.Add(peak);
            ratios.Add(bf / f32);
            Console.WriteLine($"{s.Name,-30} {f32,10:F1} {bf,10:F1} {bfIn,10:F1} {bf / f32,10:F2} {bfIn / f32,8:F2} {peak,8:F1} {bf / (2 * peak),9:F2}");
        }
        Console.WriteLine();
        Console.WriteLine("bf16 = float32 operands rounded while packing; bf16 in = operands already bf16 (ushort); bf16/2pk = bf16 against twice the row's FMA peak.");
        if (ratios.Count > 0)
            Console.WriteLine($"gemm-bf16: bf16/fp32 min {ratios.Min():F2}, median {Median(ratios):F2}; FMA peak median {Median(peaks):F1} GFLOP/s");
        return 0;
    }

    private double Stat(List<double> t) => _best ? t.Min() : Median(t);

    private static double Median(List<double> x)
    {
        var s = x.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private (double f32, double bf, double bfIn, double peak) Measure(Shape s, int rounds, int threads)
    {
        int m = s.M, n = s.N, k = s.K;
        int lda = s.TransA ? m : k, ldb = s.TransB ? k : n, ldc = n;
        var rng = new Random(42);
        var a = new float[m * k];
        var b = new float[k * n];
        var c = new float[m * n];
        var c2 = new float[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5);
        for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
        var ah = new ushort[a.Length];
        var bh = new ushort[b.Length];
        BFloat16.FromSingle(a, ah);
        BFloat16.FromSingle(b, bh);
        double flop = 2.0 * m * n * k;
        List<double> tf = new(), tb = new(), tbi = new(), pk = new();
        for (int r = 0; r < rounds; r++)
        {
            pk.Add(_cpuTime ? double.NaN : GemmSuite.FmaPeak(threads, 1));
            Round(() => Gemm.Sgemm(s.TransA, s.TransB, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc), tf);
            Round(() => Gemm.SgemmBf16(s.TransA, s.TransB, m, n, k, 1f, a, lda, b, ldb, 0f, c2, ldc), tb);
            Round(() => Gemm.SgemmBf16(s.TransA, s.TransB, m, n, k, 1f, ah, lda, bh, ldb, 0f, c2, ldc), tbi);
        }
        // Sanity: bf16 against float32 (relative to the largest |C|; bf16 inputs carry ~2^-9 relative error).
        double maxDiff = 0, maxAbs = 1e-30;
        for (int i = 0; i < c.Length; i += 7) { maxDiff = Math.Max(maxDiff, Math.Abs(c[i] - c2[i])); maxAbs = Math.Max(maxAbs, Math.Abs(c[i])); }
        if (maxDiff > 0.05 * maxAbs) Console.WriteLine($"  WARNING: bf16 and fp32 differ by {maxDiff:g3} (max |C| {maxAbs:g3})");
        return (flop / Stat(tf) / 1e9, flop / Stat(tb) / 1e9, flop / Stat(tbi) / 1e9, Median(pk));
    }

    private static void Round(Action run, List<double> times)
    {
        run();
        for (int i = 0; i < 3; i++)
        {
            double t0 = Now();
            run();
            times.Add(Now() - t0);
        }
    }

    /// <summary>One thread (CPU time): the attention forms of BERT small (batch 32 x 8 heads, 128 tokens, head size 64)
    /// through SgemmBatched2D (fp32) and SgemmBf16Batched2D, interleaved rounds, medians; one thread by its CPU time,
    /// --threads N &gt; 1 (given before --attention) by wall time.</summary>
    private static int Attention(int rounds, int threads)
    {
        KernelParallel.ThreadCount = threads;
        const int outer = 32, inner = 8, t = 128, d = 64;
        Console.WriteLine($"attention forms, {outer}x{inner} matrices, {threads} thread(s), {(threads > 1 ? "wall" : "CPU")} time; bf16: {Gemm.Bf16KernelDescription}");
        foreach (var (name, ta, tb, m, n, k) in new[] { ("Q·Kᵀ  A·Bᵀ 128x128x64", false, true, t, t, d), ("P·V   A·B  128x64x128", false, false, t, d, t),
                                                        ("Pᵀ·dO Aᵀ·B 128x64x128", true, false, t, d, t) })
        {
            int lda = ta ? m : k, ldb = tb ? k : n;
            long sa = (long)m * k, sb = (long)k * n, sc = (long)m * n;
            var rng = new Random(5);
            var a = new float[sa * outer * inner];
            var b = new float[sb * outer * inner];
            var c = new float[sc * outer * inner];
            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5);
            for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
            List<double> tf = new(), tb16 = new();
            for (int r = 0; r < rounds; r++)
            {
                Round(() => Gemm.SgemmBatched2D(ta, tb, m, n, k, 1f, a, lda, sa * inner, sa, b, ldb, sb * inner, sb, 0f, c, n, sc * inner, sc, outer, inner), tf);
                Round(() => Gemm.SgemmBf16Batched2D(ta, tb, m, n, k, 1f, a, lda, sa * inner, sa, b, ldb, sb * inner, sb, 0f, c, n, sc * inner, sc, outer, inner), tb16);
            }
            double flop = 2.0 * m * n * k * outer * inner;
            Console.WriteLine($"{name,-24} fp32 {flop / Median(tf) / 1e9,7:F1}  bf16 {flop / Median(tb16) / 1e9,7:F1} GFLOP/s");
        }
        return 0;
    }

    /// <summary>Tuning aid: one thread, packing alone (a 960 x 512 block of A, a 512 x 512 block of B, each direction and
    /// source type), in ns per element.</summary>
    private static int PackOnly()
    {
        int rows = 960, kc = 512, ld = 4096;
        float* src = (float*)NativeMemory.AlignedAlloc((nuint)(rows * ld * 4), 64);
        for (int i = 0; i < rows * ld; i++) src[i] = 0.001f * (i % 1000);
        uint* dst = (uint*)NativeMemory.AlignedAlloc((nuint)(rows * kc * 4), 64);
        uint* stage = (uint*)NativeMemory.AlignedAlloc((nuint)(64 * kc * 4 + rows * 4), 64);
        foreach (bool pairs in new[] { true, false })
            foreach (bool bf16 in new[] { false, true })
                foreach (bool copy in new[] { false, true })
                    foreach (int w in new[] { 12, 32 })
                    {
                        var best = double.MaxValue;
                        for (int rep = 0; rep < 20; rep++)
                        {
                            long t0 = Stopwatch.GetTimestamp();
                            GemmBf16Packing.Pack(src, bf16, ld, copy, copy ? rows : rows, kc, dst, w, pairs, stage);
                            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                        }
                        Console.WriteLine($"{(pairs ? "pairs" : "floats"),-7} {(bf16 ? "bf16" : "fp32"),-5} {(copy ? "copy" : "transpose"),-10} w {w,2}: {best / (rows * kc) * 1e9:F3} ns/element");
                    }
        return 0;
    }

    /// <summary>Tuning aid: one thread, the generated micro-kernel alone on L1/L2-resident panels.</summary>
    private static int KernelOnly()
    {
        if (GemmBf16Kernel.Current is not { } v) { Console.Error.WriteLine($"no vdpbf16ps kernel: {GemmBf16Kernel.Unavailable}"); return 1; }
        int mr = v.MR, nr = v.NR, kp = Gemm.KCBf16 / 2;
        ushort* a = (ushort*)NativeMemory.AlignedAlloc((nuint)(mr * kp * 4), 64);
        ushort* b = (ushort*)NativeMemory.AlignedAlloc((nuint)(nr * kp * 4 * 8), 64);
        float* c = (float*)NativeMemory.AlignedAlloc((nuint)(mr * 512 * 4), 64);
        for (int i = 0; i < mr * kp * 2; i++) a[i] = BFloat16.FromSingle(0.001f * (i % 7));
        for (int i = 0; i < nr * kp * 2 * 8; i++) b[i] = BFloat16.FromSingle(0.001f * (i % 5));
        var kern = v.General;
        for (int rep = 0; rep < 7; rep++)
        {
            int calls = 20000;
            double t0 = Now();
            for (int i = 0; i < calls; i++) kern(kp, a, b + (i & 7) * nr * kp * 2, c, 512, 1f, 1f);
            double sec = Now() - t0;
            Console.WriteLine($"bf16 kernel {mr}x{nr}, kc {2 * kp}: {2.0 * mr * nr * 2 * kp * calls / sec / 1e9:F1} GFLOP/s (one thread); FMA peak {GemmSuite.FmaPeak(1, 3):F1}");
        }
        return 0;
    }
}
