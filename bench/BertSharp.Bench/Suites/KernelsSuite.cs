using System.Diagnostics;
using System.Runtime.Intrinsics;
using BertSharp.Tensors;

namespace BertSharp.Bench.Suites;

/// <summary>
/// Memory-bound kernels against the machine's copy bandwidth, measured in the same run. Each kernel's
/// GB/s counts its minimal traffic (every input read once, every output written once); the copy counts
/// read + write the same way. Before every timed call a 96 MB buffer is written and read so that the
/// operands come from DRAM, as they do in a training step whose working set is far beyond L3.
/// </summary>
public sealed class KernelsSuite : IBenchSuite
{
    public string Name => "kernels";
    public string Description => "memory-bound kernels (LayerNorm, softmax, bias, AdamW, GELU, cross-entropy) vs copy bandwidth [--reps N] [--threads N] [--hot] [--cpu] [--only NAME]";

    private float[] _flush = Array.Empty<float>();
    private float _sink;
    private bool _hot, _cpuTime;
    private int _loop = 1;
    private double _lastBest, _lastRefBest, _lastRefMedian;

    public int Run(string[] args)
    {
        int reps = 31;
        string? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--reps": reps = int.Parse(args[++i]); break;
                case "--threads": KernelParallel.ThreadCount = int.Parse(args[++i]); break;
                case "--hot": _hot = true; break; // no cache flush: shows the compute side (diagnostic)
                case "--only": only = args[++i]; break; // run the kernels whose name contains this
                case "--cpu": _cpuTime = true; break; // time by process CPU time (diagnostic, with --hot --threads 1)
                case "--loop": _loop = int.Parse(args[++i]); break; // each timed call repeats the kernel N times (diagnostic, with --hot)
                default: Console.Error.WriteLine($"kernels: unknown option {args[i]}"); return 2;
            }
        }
        Console.WriteLine($"threads {KernelParallel.ThreadCount}, {reps} timed calls per kernel (median), each after every thread has read 96 MB (cache flush); {Environment.ProcessorCount} logical CPUs");
        var rng = new Random(1);
        _flush = Fill(new float[24 << 20], rng);

        // Plain copy: 2 × 128 MB buffers, split over the kernel threads.
        var src = Fill(new float[32 << 20], rng);
        var dst = new float[src.Length];
        double copy = Measure(reps, 2.0 * src.Length * 4, () => CopyParallel(src, dst, src.Length), out _, out _);
        Console.WriteLine($"{"copy 128 MB (read + write)",-44} {copy,7:F2} GB/s");
        Console.WriteLine();
        Console.WriteLine("Each kernel's timed calls alternate with a copy of the same number of bytes (read + write), also");
        Console.WriteLine("after a flush; 'of copy' is the median of the per-pair ratios kernel GB/s / copy GB/s; 'best' columns");
        Console.WriteLine("use the fastest call of each (the least disturbed by other processes on a shared machine).");
        Console.WriteLine();
        Console.WriteLine($"| {"kernel",-44} | {"GB/s",6} | {"copy GB/s",9} | {"of copy",7} | {"best GB/s",9} | {"best copy",9} | {"best of copy",12} | {"time ms",8} |");
        Console.WriteLine($"|{new string('-', 46)}|{new string('-', 8)}|{new string('-', 11)}|{new string('-', 9)}|{new string('-', 11)}|{new string('-', 11)}|{new string('-', 14)}|{new string('-', 10)}|");

        var results = new List<(string name, double ratio, double bestRatio, bool target)>();
        void Row(string name, double bytes, Action run, bool target)
        {
            if (only != null && !name.Contains(only, StringComparison.OrdinalIgnoreCase)) return;
            int half = (int)Math.Min(src.Length, bytes / 8); // copy bytes/2 read + bytes/2 written
            double gbs = Measure(reps, bytes, run, out double ms, out double ratio, () => CopyParallel(src, dst, half));
            double copyGbs = bytes / _lastRefMedian / 1e9;
            double best = bytes / _lastBest / 1e9, bestCopy = bytes / _lastRefBest / 1e9;
            results.Add((name, ratio, best / bestCopy, target));
            Console.WriteLine($"| {name,-44} | {gbs,6:F2} | {copyGbs,9:F2} | {ratio,7:P0} | {best,9:F2} | {bestCopy,9:F2} | {best / bestCopy,12:P0} | {ms,8:F3} |{(target ? "" : " reported only")}");
        }

        foreach (int cols in new[] { 256, 1024 })
        {
            int rows = 4096;
            var x = Fill(new float[rows * cols], rng); var y = new float[rows * cols]; var dy = Fill(new float[rows * cols], rng);
            var g = Fill(new float[cols], rng); var b = Fill(new float[cols], rng);
            var mean = new float[rows]; var rstd = new float[rows]; var dg = new float[cols]; var db = new float[cols];
            LayerNorm.Forward(x, rows, cols, g, b, 1e-12f, y, mean, rstd);
            double n = (double)rows * cols;
            Row($"LayerNorm forward {rows}x{cols}", 4 * (2 * n + 2 * rows + 2 * cols),
                () => LayerNorm.Forward(x, rows, cols, g, b, 1e-12f, y, mean, rstd), true);
            Row($"LayerNorm backward {rows}x{cols}", 4 * (3 * n + 2 * rows + 5 * cols),
                () => LayerNorm.Backward(dy, x, mean, rstd, g, rows, cols, y, dg, db), true);
            Row($"bias add {rows}x{cols}", 4 * (2 * n + cols), () => Bias.Add(y, rows, cols, b), true);
            Row($"bias backward {rows}x{cols}", 4 * (n + 2 * cols), () => Bias.Backward(dy, rows, cols, db), false);
        }

        {
            // Attention probabilities: batch 32, 4 heads, 128 × 128.
            int batch = 32, heads = 4, seq = 128;
            int rowsPerBatch = heads * seq, n = batch * rowsPerBatch * seq;
            var x = Fill(new float[n], rng); var y = new float[n]; var dy = Fill(new float[n], rng); var dx = new float[n];
            var mask = new float[batch * seq];
            for (int i = 0; i < mask.Length; i++) mask[i] = i % seq < 100 ? 0f : -10000f;
            Row($"softmax forward {batch}x{heads}x{seq}x{seq} (masked)", 4.0 * (2.0 * n + mask.Length),
                () => Softmax.Forward(x, y, batch, rowsPerBatch, seq, 0.125f, mask), true);
            Row($"softmax backward {batch}x{heads}x{seq}x{seq}", 4.0 * 3 * n,
                () => Softmax.Backward(y, dy, dx, batch * rowsPerBatch, seq, 0.125f), true);
        }

        {
            int n = 11_000_000;
            var p = Fill(new float[n], rng); var gr = Fill(new float[n], rng); var m = new float[n]; var v = new float[n];
            int step = 0;
            Row($"AdamW {n / 1e6:F0}M params", 4.0 * 7 * n,
                () => AdamW.Step(p, gr, m, v, new AdamWParams(1e-4f, 0.9f, 0.999f, 1e-6f, 0.01f, ++step, 1f)), true);
            Row($"gradient L2 norm {n / 1e6:F0}M", 4.0 * n, () => _sink += (float)Reduce.L2Norm(gr), false);
        }

        {
            int n = 4096 * 1024;
            var x = Fill(new float[n], rng); var y = new float[n]; var dy = Fill(new float[n], rng); var dx = new float[n];
            Row("GELU (erf) forward 4096x1024", 4.0 * 2 * n, () => Activations.Gelu(x, y), false);
            Row("GELU (erf) backward 4096x1024", 4.0 * 3 * n, () => Activations.GeluBackward(x, dy, dx), false);
            Row("GELU (tanh) forward 4096x1024", 4.0 * 2 * n, () => Activations.GeluTanh(x, y), false);
            Row("dropout forward 4096x1024 p=0.1", 4.0 * 2 * n, () => Dropout.Forward(x, y, 0.1f, 1, 2, 3), false);
        }

        {
            int rows = 640, cols = 30522;
            var logits = Fill(new float[rows * cols], rng, 10f); var d = new float[rows * cols];
            var targets = new int[rows];
            for (int r = 0; r < rows; r++) targets[r] = rng.Next(cols);
            var losses = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
            double n = (double)rows * cols;
            Row($"cross-entropy forward {rows}x{cols}", 4 * (n + 3 * rows),
                () => CrossEntropy.Forward(logits, rows, cols, targets, -100, losses, lse, arg), false);
            Row($"cross-entropy backward {rows}x{cols}", 4 * (2 * n + 2 * rows),
                () => CrossEntropy.Backward(logits, lse, targets, -100, rows, cols, 1f / rows, d), false);
        }

        var targeted = results.Where(r => r.target).ToList();
        if (targeted.Count == 0) return 0;
        var worst = targeted.MinBy(r => r.ratio);
        var worstBest = targeted.MinBy(r => r.bestRatio);
        Console.WriteLine();
        Console.WriteLine($"kernels: copy {copy:F2} GB/s; min fraction of copy bandwidth (LayerNorm, softmax, bias add, AdamW) {worst.ratio:F2} ({worst.name}), median {Median(targeted.Select(r => r.ratio).ToArray()):F2}; best-of-run ratios min {worstBest.bestRatio:F2} ({worstBest.name})");
        GC.KeepAlive(_sink);
        return 0;
    }

    private static float[] Fill(float[] a, Random rng, float range = 1f)
    {
        for (int i = 0; i < a.Length; i++) a[i] = range * (2 * (float)rng.NextDouble() - 1);
        return a;
    }

    /// <summary>Median GB/s of <paramref name="run"/>; with <paramref name="reference"/> (a copy of the same
    /// bytes) each timed call is paired with a timed reference call and the median ratio is returned too.</summary>
    private double Measure(int reps, double bytes, Action run, out double medianMs, out double medianRatio, Action? reference = null)
    {
        for (int i = 0; i < 3; i++) { run(); reference?.Invoke(); } // warm-up: JIT tiers, scratch, workers
        var times = new double[reps];
        var ratios = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            double tr = 0;
            if (reference != null) { Flush(); tr = Time(reference); }
            Flush();
            times[i] = Time(run);
            ratios[i] = tr / times[i];
        }
        if (Environment.GetEnvironmentVariable("BERTSHARP_BENCH_VERBOSE") == "1")
            Console.WriteLine("  times ms: " + string.Join(" ", times.Select(t => (t * 1e3).ToString("F2"))) + "\n  ratios: " + string.Join(" ", ratios.Select(r => r.ToString("F2"))));
        double med = Median(times);
        medianMs = med * 1e3;
        medianRatio = Median(ratios);
        _lastBest = times.Min();
        if (reference != null)
        {
            var refTimes = new double[reps];
            for (int i = 0; i < reps; i++) refTimes[i] = ratios[i] * times[i];
            _lastRefMedian = Median(refTimes);
            _lastRefBest = refTimes.Min();
        }
        return bytes / med / 1e9;
    }

    private double Time(Action a)
    {
        if (_loop > 1)
        {
            var once = a;
            a = () => { for (int k = 0; k < _loop; k++) once(); };
            return TimeOnce(a) / _loop;
        }
        return TimeOnce(a);
    }

    private double TimeOnce(Action a)
    {
        if (_cpuTime)
        {
            // CPU time of this process: on a busy shared machine it leaves out the time other processes
            // held the core. Coarse (OS tick), so use it on calls of a few ms or more.
            var proc = Process.GetCurrentProcess();
            var c0 = proc.TotalProcessorTime;
            a();
            proc.Refresh();
            return (proc.TotalProcessorTime - c0).TotalSeconds;
        }
        long t0 = Stopwatch.GetTimestamp();
        a();
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private unsafe void Flush()
    {
        if (_hot) return;
        // Every kernel thread reads all of a 96 MB buffer, so the operands are evicted from
        // whichever cache each thread runs beside (the VM's two vCPUs need not share an L3). The barrier
        // makes sure each chunk runs on a different thread.
        fixed (float* f = _flush)
        {
            var body = new FlushBody { F = f, N = _flush.Length, Threads = KernelParallel.ThreadCount };
            int arrived = 0;
            body.Arrived = &arrived;
            KernelParallel.For(body.Threads, 1, ref body);
        }
    }

    private unsafe struct FlushBody : IRangeBody
    {
        public float* F;
        public int N, Threads;
        public int* Arrived;
        public void Invoke(int start, int end)
        {
            for (int c = start; c < end; c++)
            {
                Interlocked.Increment(ref *Arrived);
                var spin = new SpinWait();
                long t0 = Stopwatch.GetTimestamp();
                // Wait for the other threads (bounded, in case fewer threads than chunks are running).
                while (Volatile.Read(ref *Arrived) < Threads && Stopwatch.GetElapsedTime(t0).TotalMilliseconds < 50) spin.SpinOnce(-1);
                float s = 0;
                for (int i = 0; i < N; i += 16) s += F[i];
                if (s == 1f) F[0] = s; // keep the reads
            }
        }
    }

    private static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static unsafe void CopyParallel(float[] src, float[] dst, int count)
    {
        fixed (float* s = src, d = dst)
        {
            var body = new CopyBody { Src = s, Dst = d };
            KernelParallel.For(count, 1 << 14, ref body);
        }
    }

    private unsafe struct CopyBody : IRangeBody
    {
        public float* Src, Dst;
        public void Invoke(int start, int end)
        {
            // A plain copy with ordinary loads and stores, as the kernels use.
            int i = start;
            for (; i <= end - 32; i += 32)
            {
                var a = Vector256.Load(Src + i); var b = Vector256.Load(Src + i + 8);
                var c = Vector256.Load(Src + i + 16); var d = Vector256.Load(Src + i + 24);
                Vector256.Store(a, Dst + i); Vector256.Store(b, Dst + i + 8); Vector256.Store(c, Dst + i + 16); Vector256.Store(d, Dst + i + 24);
            }
            for (; i < end; i++) Dst[i] = Src[i];
        }
    }
}
