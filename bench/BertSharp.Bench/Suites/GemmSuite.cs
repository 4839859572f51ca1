using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BertSharp.Tensors;

namespace BertSharp.Bench.Suites;

/// <summary>
/// SGEMM throughput: ours against OpenBLAS's cblas_sgemm (loaded here only) on the same shapes and thread
/// count, interleaved so that drifting machine load hits both alike, and against the machine's FMA peak
/// measured in the same run. Options: --threads N, --rounds R, --only TEXT, --isa avx2|portable, --no-blas,
/// and for tuning --kc N --mb N --nb N.
/// </summary>
public sealed unsafe class GemmSuite : IBenchSuite
{
    public string Name => "gemm";
    public string Description => "SGEMM GFLOP/s vs OpenBLAS and the FMA peak (square and BERT shapes)";

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private sealed record Shape(string Name, int M, int K, int N, bool TransA, bool TransB);

    private static List<Shape> Shapes()
    {
        var list = new List<Shape>
        {
            new("1024x1024x1024 A·B", 1024, 1024, 1024, false, false),
            new("2048x2048x2048 A·B", 2048, 2048, 2048, false, false),
        };
        (int m, int k, int n)[] bert = [(4096, 256, 1024), (4096, 1024, 256), (4096, 256, 256), (4096, 512, 2048), (4096, 2048, 512), (640, 256, 30522)];
        foreach (var (m, k, n) in bert)
        {
            list.Add(new($"{m}x{k}x{n} A·Bᵀ (fwd)", m, k, n, false, true));
            list.Add(new($"{m}x{k}x{n} Aᵀ·B", m, k, n, true, false));
            list.Add(new($"{m}x{k}x{n} A·B", m, k, n, false, false));
        }
        return list;
    }

    public int Run(string[] args)
    {
        int threads = Environment.ProcessorCount, rounds = 5;
        string? only = null;
        bool useBlas = true;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                case "--no-blas": useBlas = false; break;
                case "--best": _best = true; break;
                case "--kernel": return KernelOnly();
                case "--kc": Gemm.Tune(int.Parse(args[++i]), 0, 0); break;
                case "--mb": Gemm.Tune(0, int.Parse(args[++i]), 0); break;
                case "--nb": Gemm.Tune(0, 0, int.Parse(args[++i])); break;
                case "--isa": Gemm.Isa = Enum.Parse<GemmIsa>(args[++i], ignoreCase: true); break;
                default: Console.Error.WriteLine($"gemm: unknown option {args[i]}"); return 2;
            }
        }
        KernelParallel.ThreadCount = threads;

        delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> blas = null;
        if (useBlas)
        {
            if (!NativeLibrary.TryLoad("libopenblas.so.0", out var lib))
            {
                Console.Error.WriteLine("gemm: cannot load libopenblas.so.0 (bench/run.sh gemm installs libopenblas0-pthread)");
                return 1;
            }
            blas = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)
                NativeLibrary.GetExport(lib, "cblas_sgemm");
            var setThreads = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "openblas_set_num_threads");
            setThreads(threads);
            var config = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(lib, "openblas_get_config");
            var coreName = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(lib, "openblas_get_corename");
            Console.WriteLine($"OpenBLAS: {Marshal.PtrToStringAnsi((nint)config())} (core {Marshal.PtrToStringAnsi((nint)coreName())})");
        }
        Console.WriteLine($"ours: {Gemm.KernelDescription}; threads {threads}; {Environment.ProcessorCount} processors; " +
                          $"Vector512 {Vector512.IsHardwareAccelerated}, AVX2 {Avx2.IsSupported}, FMA {Fma.IsSupported}");

        var allPeaks = new List<double> { FmaPeak(threads, 5) };
        Console.WriteLine($"FMA peak (register-only, {threads} threads): {allPeaks[0]:F1} GFLOP/s at start");
        Console.WriteLine("Each row: medians over interleaved rounds of (FMA peak, ours, OpenBLAS); fractions use that row's own peak samples.");
        Console.WriteLine();
        Console.WriteLine($"{"shape (M x K x N)",-30} {"ours GF/s",10} {"OpenBLAS",10} {"ratio",7} {"peak GF/s",10} {"ours/peak",10} {"BLAS/peak",10}");

        var ratios = new List<double>();
        var fractions = new List<double>();
        foreach (var s in Shapes())
        {
            if (only != null && !s.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            var (ours, theirs, peak) = Measure(s, rounds, blas, threads);
            allPeaks.Add(peak);
            fractions.Add(ours / peak);
            string blasCol = blas != null ? $"{theirs,10:F1} {ours / theirs,7:F2}" : $"{"-",10} {"-",7}";
            string blasPeak = blas != null ? $"{theirs / peak,10:F2}" : $"{"-",10}";
            Console.WriteLine($"{s.Name,-30} {ours,10:F1} {blasCol} {peak,10:F1} {ours / peak,10:F2} {blasPeak}");
            if (blas != null) ratios.Add(ours / theirs);
        }
        if (only == null || "batched".Contains(only, StringComparison.OrdinalIgnoreCase))
        {
            // Attention heads (batch 32 x 4 heads, seq 128, head dim 64): not in the summary line; OpenBLAS
            // 0.3.21 has no batched call, so its column loops cblas_sgemm over the batch.
            Console.WriteLine();
            Console.WriteLine("Strided-batched (attention, 128 = 32 sequences x 4 heads; OpenBLAS loops cblas_sgemm):");
            foreach (var s in new[] { new Shape("128 x (128x64x128) Q·Kᵀ", 128, 64, 128, false, true),
                                      new Shape("128 x (128x128x64) P·V", 128, 128, 64, false, false),
                                      new Shape("128 x (128x128x64) Pᵀ·dO", 128, 128, 64, true, false) })
            {
                var (ours, theirs, peak) = Measure(s, rounds, blas, threads, batch: 128);
                string blasCol = blas != null ? $"{theirs,10:F1} {ours / theirs,7:F2}" : $"{"-",10} {"-",7}";
                Console.WriteLine($"{s.Name,-30} {ours,10:F1} {blasCol} {peak,10:F1} {ours / peak,10:F2}");
            }
        }
        Console.WriteLine();
        Console.WriteLine($"FMA peak per row: median {Median(allPeaks):F1} GFLOP/s (min {allPeaks.Min():F1}, max {allPeaks.Max():F1})");
        if (fractions.Count == 0) return 0;
        double medFrac = Median(fractions);
        Console.WriteLine($"(against the run's highest peak sample, {allPeaks.Max():F1} GFLOP/s, the median fraction is " +
                          $"{Median(fractions.Select((f, i) => f * allPeaks[i + 1] / allPeaks.Max()).ToList()):F2})");
        if (ratios.Count > 0)
            Console.WriteLine($"gemm: min ratio vs OpenBLAS {ratios.Min():F2}, median {Median(ratios):F2}; median fraction of FMA peak {medFrac:F2}");
        else
            Console.WriteLine($"gemm: min ratio vs OpenBLAS n/a, median n/a; median fraction of FMA peak {medFrac:F2}");
        return 0;
    }

    /// <summary>Tuning aid: one thread, the AVX-512 micro-kernel alone on L1/L2-resident panels.</summary>
    private static int KernelOnly()
    {
        int kc = Gemm.KC;
        float* a = (float*)NativeMemory.AlignedAlloc((nuint)(12 * kc * 4), 64);
        float* b = (float*)NativeMemory.AlignedAlloc((nuint)(32 * kc * 4 * 16), 64);
        float* c = (float*)NativeMemory.AlignedAlloc(12 * 512 * 4, 64);
        for (int i = 0; i < 12 * kc; i++) a[i] = 0.001f * (i % 7);
        for (int i = 0; i < 32 * kc * 16; i++) b[i] = 0.001f * (i % 5);
        for (int rep = 0; rep < 7; rep++)
        {
            int calls = 20000;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++) GemmKernels.Kernel12x32(kc, a, b + (i & 15) * 32 * kc, c, 512, 1f, 1f);
            double sec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            Console.WriteLine($"kernel 12x32, kc {kc}: {2.0 * 12 * 32 * kc * calls / sec / 1e9:F1} GFLOP/s (one thread); FMA peak {FmaPeak(1, 3):F1}");
        }
        return 0;
    }

    private static bool _best;   // tuning: best-of instead of median (noise only ever adds time)

    private static double Stat(List<double> times) => _best ? times.Min() : Median(times);

    private static double Median(List<double> x)
    {
        var s = x.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>Interleaved rounds of (FMA peak sample, ours, OpenBLAS). For each library a round lets the
    /// other's spinning workers go idle, warms up with one untimed call, then times three back-to-back
    /// calls. Returns the medians.</summary>
    private static (double ours, double blas, double peak) Measure(Shape s, int rounds,
        delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> blas, int threads,
        int batch = 1)
    {
        int m = s.M, n = s.N, k = s.K;
        int lda = s.TransA ? m : k, ldb = s.TransB ? k : n, ldc = n;
        var rng = new Random(42);
        var a = GC.AllocateUninitializedArray<float>(m * k * batch, pinned: true);
        var b = GC.AllocateUninitializedArray<float>(k * n * batch, pinned: true);
        var c = GC.AllocateUninitializedArray<float>(m * n * batch, pinned: true);
        var c2 = GC.AllocateUninitializedArray<float>(m * n * batch, pinned: true);
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5);
        for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
        double flop = 2.0 * m * n * k * batch;
        var oursT = new List<double>();
        var blasT = new List<double>();
        var peaks = new List<double>();
        // The arrays are pinned, so raw pointers to them stay valid.
        float* pa = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));
        float* pb = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(b));
        float* pc2 = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(c2));
        {
            void Ours()
            {
                if (batch == 1) Gemm.Sgemm(s.TransA, s.TransB, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc);
                else Gemm.SgemmStridedBatched(s.TransA, s.TransB, m, n, k, 1f, a, lda, m * k, b, ldb, k * n, 0f, c, ldc, m * n, batch);
            }
            void Blas()
            {
                for (int i = 0; i < batch; i++)
                    blas(RowMajor, s.TransA ? Trans : NoTrans, s.TransB ? Trans : NoTrans, m, n, k, 1f,
                         pa + (nint)i * m * k, lda, pb + (nint)i * k * n, ldb, 0f, pc2 + (nint)i * m * n, ldc);
            }
            for (int r = 0; r < rounds; r++)
            {
                peaks.Add(FmaPeak(threads, 1));
                Round(Ours, oursT);
                if (blas != null) Round(Blas, blasT);
            }
            if (blas != null)
            {
                // Sanity: both computed the same product.
                double maxDiff = 0, maxAbs = 1e-30;
                for (int i = 0; i < c.Length; i += 7) { maxDiff = Math.Max(maxDiff, Math.Abs(c[i] - c2[i])); maxAbs = Math.Max(maxAbs, Math.Abs(c2[i])); }
                if (maxDiff > 1e-4 * maxAbs) Console.WriteLine($"  WARNING: ours and OpenBLAS differ by {maxDiff:g3} (max |C| {maxAbs:g3})");
            }
        }
        return (flop / Stat(oursT) / 1e9, blas != null ? flop / Stat(blasT) / 1e9 : double.NaN, _best ? peaks.Max() : Median(peaks));
    }

    private static void Round(Action run, List<double> times)
    {
        Thread.Sleep(150);   // OpenBLAS's workers spin ~2^28 cycles after a call, ours a few ms
        run();
        for (int i = 0; i < 3; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
    }

    private struct FmaBody : IRangeBody
    {
        public long Iterations;
        public bool Wide;
        public void Invoke(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                if (Wide) FmaLoop512(Iterations);
                else FmaLoop256(Iterations);
            }
        }
    }

    /// <summary>Machine FMA peak: every thread runs a register-only loop of 12 independent FMA chains.
    /// Vector256 always; Vector512 too where accelerated (the peak is the faster of the two).</summary>
    internal static double FmaPeak(int threads, int reps)
    {
        double best = 0;
        foreach (bool wide in Vector512.IsHardwareAccelerated ? new[] { false, true } : new[] { false })
        {
            int lanes = wide ? 16 : 8;
            long iters = wide ? 1_500_000 : 3_000_000;
            var body = new FmaBody { Iterations = iters / 20, Wide = wide };
            KernelParallel.For(threads, 1, ref body);   // warm up (JIT, workers)
            var samples = new List<double>();
            body.Iterations = iters;
            for (int rep = 0; rep < reps; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                KernelParallel.For(threads, 1, ref body);
                double sec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                samples.Add(threads * iters * 12.0 * lanes * 2 / sec / 1e9);
            }
            best = Math.Max(best, Median(samples));
        }
        return best;
    }

    private static float FmaSink;

    private static void FmaLoop256(long iters)
    {
        var m = Vector256.Create(0.999999f);
        var d = Vector256.Create(1e-7f);
        Vector256<float> x0 = Vector256.Create(1f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0,
                         x6 = x0, x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
        for (long i = 0; i < iters; i++)
        {
            x0 = Vector256.FusedMultiplyAdd(x0, m, d); x1 = Vector256.FusedMultiplyAdd(x1, m, d);
            x2 = Vector256.FusedMultiplyAdd(x2, m, d); x3 = Vector256.FusedMultiplyAdd(x3, m, d);
            x4 = Vector256.FusedMultiplyAdd(x4, m, d); x5 = Vector256.FusedMultiplyAdd(x5, m, d);
            x6 = Vector256.FusedMultiplyAdd(x6, m, d); x7 = Vector256.FusedMultiplyAdd(x7, m, d);
            x8 = Vector256.FusedMultiplyAdd(x8, m, d); x9 = Vector256.FusedMultiplyAdd(x9, m, d);
            x10 = Vector256.FusedMultiplyAdd(x10, m, d); x11 = Vector256.FusedMultiplyAdd(x11, m, d);
        }
        var s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
        FmaSink = s.GetElement(0);
    }

    private static void FmaLoop512(long iters)
    {
        var m = Vector512.Create(0.999999f);
        var d = Vector512.Create(1e-7f);
        Vector512<float> x0 = Vector512.Create(1f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0,
                         x6 = x0, x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
        for (long i = 0; i < iters; i++)
        {
            x0 = Vector512.FusedMultiplyAdd(x0, m, d); x1 = Vector512.FusedMultiplyAdd(x1, m, d);
            x2 = Vector512.FusedMultiplyAdd(x2, m, d); x3 = Vector512.FusedMultiplyAdd(x3, m, d);
            x4 = Vector512.FusedMultiplyAdd(x4, m, d); x5 = Vector512.FusedMultiplyAdd(x5, m, d);
            x6 = Vector512.FusedMultiplyAdd(x6, m, d); x7 = Vector512.FusedMultiplyAdd(x7, m, d);
            x8 = Vector512.FusedMultiplyAdd(x8, m, d); x9 = Vector512.FusedMultiplyAdd(x9, m, d);
            x10 = Vector512.FusedMultiplyAdd(x10, m, d); x11 = Vector512.FusedMultiplyAdd(x11, m, d);
        }
        var s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
        FmaSink = s.GetElement(0);
    }
}
