using BertSharp.Data;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Bench.Suites;

/// <summary>
/// Training-step throughput (forward + backward + clipped AdamW) of BertForPreTraining at batch 32 × length 128,
/// 20 masked positions per sequence, dropout 0.1, vocabulary 30,522, against PyTorch running the same model
/// (tools/reference/bench_torch.py) with the same sparse MLM head and with HF's dense MLM head. Every
/// measurement runs in its own child process (ours: this program with --child; PyTorch: python) so that each
/// peak RSS is that configuration's own. Rounds are interleaved (ours, torch sparse, torch dense) so drifting
/// machine load hits all alike; figures are medians over rounds, ratios are taken within each round.
/// Ours runs in each of <c>--precision</c> (fp32,bf16), PyTorch in each of <c>--torch</c> (fp32, and bf16: autocast).
/// Options: --presets tiny,mini,small  --precision fp32,bf16  --torch fp32,bf16  --rounds R  --steps N  --warmup W
/// --threads T  --seq L (sequence length, 128)  --peak GFLOPS (MFU against this fixed peak instead of the per-round sample)  --no-torch  --dense
/// </summary>
public sealed class TrainSuite : IBenchSuite
{
    public string Name => "train";
    public string Description => "training steps/s vs PyTorch (tiny/mini/small, batch 32x128), memory, per-part and per-kernel tables, MFU, allocations";

    private const int Batch = 32, Predictions = 20, Vocab = 30522;
    private static int Seq = 128; // --seq (memory measurements at longer lengths)

    public int Run(string[] args)
    {
        var presets = new List<string> { "tiny", "mini", "small" };
        var precisions = new List<string> { "fp32", "bf16" };
        var torchModes = new List<string> { "fp32", "bf16" };
        int rounds = 3, steps = 8, warmup = 3, threads = 2;
        bool torch = true, dense = false, shapes = false;
        double fixedPeak = 0;
        string? child = null;
        string childPrecision = "fp32";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--presets": presets = args[++i].Split(',').ToList(); break;
                case "--precision": precisions = args[++i].Split(',').ToList(); childPrecision = precisions[0]; break;
                case "--torch": torchModes = args[++i].Split(',').ToList(); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--steps": steps = int.Parse(args[++i]); break;
                case "--warmup": warmup = int.Parse(args[++i]); break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--seq": Seq = int.Parse(args[++i]); break;
                case "--peak": fixedPeak = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--no-torch": torch = false; break;
                case "--dense": dense = true; break;
                case "--no-dense": dense = false; break;
                case "--child": child = args[++i]; break;
                case "--gemm-shapes": shapes = true; break;
                default: Console.Error.WriteLine($"train: unknown option {args[i]}"); return 2;
            }
        }
        foreach (var p in precisions) Precisions.Parse(p, "--precision");
        if (child != null) return Child(child, steps, warmup, threads, Precisions.Parse(childPrecision, "--precision") ?? Precision.Fp32);
        if (shapes) { foreach (var p in presets) foreach (var q in precisions) GemmShapes(p, threads, rounds, Precisions.Parse(q) ?? Precision.Fp32); return 0; }
        if (!torch) torchModes.Clear();

        string repo = FindRepo();
        string script = Path.Combine(repo, "tools", "reference", "bench_torch.py");
        Console.WriteLine($"train: batch {Batch} x length {Seq}, {Predictions} masked positions per sequence, vocab {Vocab}, dropout 0.1, " +
                          $"{threads} threads, {steps} timed steps after {warmup} warm-up, {rounds} interleaved rounds; {Environment.ProcessorCount} processors");
        Console.WriteLine($"ours: {string.Join(", ", precisions)} ({Gemm.KernelDescription}; bf16: {Gemm.Bf16KernelDescription}); PyTorch {string.Join(", ", torchModes.Select(m => m == "bf16" ? "bf16 autocast" : m))}" +
                          " (sparse MLM head, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so OpenBLAS picks its AVX-512 kernels, OMP_WAIT_POLICY=PASSIVE, glibc malloc kept from trimming)");
        KernelParallel.ThreadCount = threads;
        double peak0 = FmaPeak(threads);
        Console.WriteLine($"FMA peak (register-only, {threads} threads) at start: {peak0:F1} GFLOP/s" + (fixedPeak > 0 ? $"; MFU against the fixed peak {fixedPeak:F0} GFLOP/s" : ""));
        var summary = new List<string>();
        foreach (var preset in presets)
        {
            // Every configuration runs once per round, in the same order, so drifting load hits all alike.
            var configs = precisions.Select(p => ($"ours {p}", (Func<JsonElement>)(() => RunChild(Environment.ProcessPath!,
                    $"\"{typeof(TrainSuite).Assembly.Location}\" train --child {preset} --precision {p} --steps {steps} --warmup {warmup} --threads {threads} --seq {Seq}", null))))
                .Concat(torchModes.Select(m => ($"torch {m}", (Func<JsonElement>)(() => RunTorch(script, preset, "sparse", m, steps, warmup, threads)))))
                .ToList();
            if (dense && torch) configs.Add(("torch fp32 dense", () => RunTorch(script, preset, "dense", "fp32", Math.Max(2, steps / 2), Math.Min(warmup, 2), threads)));
            var results = configs.ToDictionary(c => c.Item1, _ => new List<JsonElement>());
            var peaks = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                peaks.Add(FmaPeak(threads));
                var line = $"  {preset} round {r + 1} (load {LoadAverage()}):";
                foreach (var (name, run) in configs)
                {
                    var o = run();
                    results[name].Add(o);
                    line += $" {name} {Tps(o):F0} tok/s (fastest step {o.GetProperty("min_step_s").GetDouble() * 1000:F0} ms, RSS {o.GetProperty("peak_rss_mb").GetDouble():F0} MB);";
                }
                Console.WriteLine(line);
            }
            Console.WriteLine();
            double peak = fixedPeak > 0 ? fixedPeak : Median(peaks);
            foreach (var (name, _) in configs)
            {
                var runs = results[name];
                double tps = Median(runs.Select(Tps));
                string extra = "";
                if (name.StartsWith("ours", StringComparison.Ordinal))
                {
                    var best = runs.OrderBy(x => Math.Abs(Tps(x) - tps)).First();
                    double flops = best.GetProperty("flops_per_step").GetDouble();
                    extra = $", {flops / 1e9:F1} GFLOP/step, MFU {flops * tps / (Batch * Seq) / (peak * 1e9):P1} of {peak:F0} GFLOP/s FMA peak" +
                            $", managed allocation {Median(runs.Select(x => x.GetProperty("alloc_bytes_per_step").GetDouble())):F0} B/step";
                }
                Console.WriteLine($"{preset}: {name} median {tps:F0} tokens/s, peak RSS {Median(runs.Select(x => x.GetProperty("peak_rss_mb").GetDouble())):F0} MB{extra}");
            }
            // Ratios within each round (the fairest comparison on a shared machine), then their median.
            string Ratio(string a, string b)
            {
                if (!results.ContainsKey(a) || !results.ContainsKey(b)) return "";
                var per = results[a].Zip(results[b], (x, y) => Tps(x) / Tps(y)).ToList();
                var fastest = results[a].Zip(results[b], (x, y) => y.GetProperty("min_step_s").GetDouble() / x.GetProperty("min_step_s").GetDouble()).ToList();
                string text = $"{a} / {b}: {Median(per):F2}x (rounds {string.Join(", ", per.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}; fastest steps {Median(fastest):F2}x)";
                Console.WriteLine($"{preset}: {text}");
                return text;
            }
            foreach (var text in new[]
            {
                Ratio("ours bf16", "torch bf16"), Ratio("ours fp32", "torch fp32"), Ratio("ours bf16", "ours fp32"),
                Ratio("ours fp32", "torch bf16"), Ratio("ours fp32", "torch fp32 dense"),
            })
                if (text != "") summary.Add($"{preset}: {text}");
            var profiled = results.FirstOrDefault(kv => kv.Key.StartsWith("ours", StringComparison.Ordinal));
            foreach (var (name, runs) in results.Where(kv => kv.Key.StartsWith("ours", StringComparison.Ordinal)))
            {
                double tps = Median(runs.Select(Tps));
                var best = runs.OrderBy(x => Math.Abs(Tps(x) - tps)).First();
                Console.WriteLine($"{preset}: {name}: time per part of a step (ms, summed over layers; least of 3 profiled steps of the median run):");
                PrintTable(best.GetProperty("profile"), "part");
                Console.WriteLine($"{preset}: {name}: time per kernel (ms, summed over the step's calls):");
                PrintTable(best.GetProperty("kernels"), "kernel");
            }
            Console.WriteLine();
        }
        foreach (var s in summary) Console.WriteLine("train: " + s);
        return 0;
    }

    private static double Tps(JsonElement e) => e.GetProperty("tokens_per_s").GetDouble();

    // A child's "section/row" -> seconds as a table: one line per row (first appearance order), one column per section;
    // each cell is its own least over the profiled steps, so a column's total can be below every single step's.
    private static void PrintTable(JsonElement sums, string rowName)
    {
        var cells = sums.EnumerateObject().Select(p => (Section: p.Name[..p.Name.IndexOf('/')], Row: p.Name[(p.Name.IndexOf('/') + 1)..], Ms: p.Value.GetDouble() * 1000)).ToList();
        string[] order = ["forward", "backward", "optimizer"];
        var sections = cells.Select(c => c.Section).Distinct().OrderBy(x => Array.IndexOf(order, x) is var i and >= 0 ? i : order.Length).ToList();
        Console.WriteLine($"    {rowName,-26}" + string.Concat(sections.Select(s => $" {s,10}")));
        foreach (var row in cells.Select(c => c.Row).Distinct())
            Console.WriteLine($"    {row,-26}" + string.Concat(sections.Select(s =>
                cells.FirstOrDefault(c => c.Section == s && c.Row == row) is { Section: not null } c ? $" {c.Ms,10:F1}" : $" {"",10}")));
        Console.WriteLine($"    {"total",-26}" + string.Concat(sections.Select(s => $" {cells.Where(c => c.Section == s).Sum(c => c.Ms),10:F1}")));
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    private static string FindRepo()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "BertSharp.slnx"))) d = d.Parent;
        return d?.FullName ?? Directory.GetCurrentDirectory();
    }

    private static JsonElement RunTorch(string script, string preset, string head, string mode, int steps, int warmup, int threads)
    {
        // PyTorch's best setup here (ANCHORS.md §6): passive OpenMP waiting, and glibc kept from returning
        // freed memory to the OS (re-touching returned memory is very slow on this VM).
        var env = new Dictionary<string, string?>
        {
            ["OMP_WAIT_POLICY"] = "PASSIVE",
            ["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture),
            ["MALLOC_TRIM_THRESHOLD_"] = "100000000000",
            ["MALLOC_MMAP_THRESHOLD_"] = "100000000000",
            ["MALLOC_TOP_PAD_"] = "1073741824",
            // These machines export OPENBLAS_CORETYPE=Haswell (AVX2 kernels); unset, OpenBLAS picks its AVX-512 ones.
            ["OPENBLAS_CORETYPE"] = null,
            ["OPENBLAS_L2_SIZE"] = null,
        };
        string autocast = mode == "bf16" ? "bf16" : "none";
        return RunChild("/usr/bin/python3", $"\"{script}\" --preset {preset} --head {head} --autocast {autocast} --steps {steps} --warmup {warmup} --threads {threads}", env);
    }

    private static JsonElement RunChild(string exe, string arguments, Dictionary<string, string?>? env)
    {
        var psi = new ProcessStartInfo(exe, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (env != null)
            foreach (var (k, v) in env)
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        string? json = stdout.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (p.ExitCode != 0 || json == null)
            throw new InvalidOperationException($"train: child '{exe} {arguments}' failed (exit {p.ExitCode}): {stderr.Trim()}");
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    // ---- child: one configuration, our side ----

    private static int Child(string preset, int steps, int warmup, int threads, Precision precision)
    {
        KernelParallel.ThreadCount = threads;
        var config = BertConfig.FromPreset(preset, Vocab);
        // Memory measurements past the presets' 512 positions (--seq 1024, ...) grow the position table to the length.
        if (Seq > config.MaxPositionEmbeddings) config.MaxPositionEmbeddings = Seq;
        var parameters = new BertParameters(config, device: Device.Cpu.WithPrecision(precision));
        parameters.Initialize(1);
        var model = new BertForPreTraining(parameters);
        var opt = new AdamWOptimizer(parameters, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads);
        var schedule = new LearningRateSchedule(ScheduleKind.Linear, 1e-4, 10, 10_000);
        var (ids, types, mask, positions, labels, weights, nsp) = RandomBatch();
        var batch = BertBatch.Create(Batch, Seq, Predictions, ids, types, mask, positions, labels, weights, nsp);

        long step = 0;
        // The sections of a step a profile reports (the only profiling lines: the layers have none).
        void Step(BertForPreTraining m, AdamWOptimizer o, DeviceProfile? profile)
        {
            profile?.Enter("optimizer"); // zeroing the gradients is the update's bookkeeping, as AdamW is
            m.Parameters.ZeroGradients();
            profile?.Enter("forward");
            m.Forward(batch, new DropoutContext(true, 7, (ulong)step));
            profile?.Enter("backward", backward: true);
            m.Backward();
            profile?.Enter("optimizer");
            o.Step(schedule.At(++step));
        }

        for (int i = 0; i < warmup; i++) Step(model, opt, null);
        var times = new List<double>(steps);
        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Step(model, opt, null);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        long alloc1 = GC.GetTotalAllocatedBytes(precise: true);
        // The allocation count must not include the timing list: it was sized up front.
        double allocPerStep = (alloc1 - alloc0) / (double)steps;
        double peakRss = PeakRssMb(); // before the profiled model below adds its own buffers

        // Per-part times: the same parameters on a ProfilingDevice (a second model and optimiser over them, so the
        // timed steps above ran on the plain device), the minimum over 3 profiled steps after one warm-up (the machine
        // is shared; the minimum is the least disturbed). Keys: "section/part" and "section/kernel".
        var profiling = new ProfilingDevice(parameters.Device);
        var profiledParameters = parameters.To(profiling);
        profiling.Profile.PartOf = ModelParts.Of(profiledParameters);
        var profiledModel = new BertForPreTraining(profiledParameters);
        var profiledOpt = new AdamWOptimizer(profiledParameters, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads);
        Step(profiledModel, profiledOpt, profiling.Profile);
        var profile = new Dictionary<string, double>();
        var kernels = new Dictionary<string, double>();
        for (int rep = 0; rep < 3; rep++)
        {
            profiling.Profile.Clear();
            Step(profiledModel, profiledOpt, profiling.Profile);
            var calls = profiling.Profile.Attributed();
            Keep(profile, DeviceProfile.Sum(calls, c => $"{c.Section}/{c.Part}"), rep);
            Keep(kernels, DeviceProfile.Sum(calls, c => $"{c.Section}/{c.Kernel}"), rep);
        }
        static void Keep(Dictionary<string, double> least, IReadOnlyList<(string Key, double Seconds)> sums, int rep)
        {
            foreach (var (key, seconds) in sums)
                least[key] = rep == 0 || !least.TryGetValue(key, out double s) ? seconds : Math.Min(s, seconds);
        }

        times.Sort();
        double med = times[times.Count / 2];
        var result = new Dictionary<string, object>
        {
            ["preset"] = preset,
            ["precision"] = precision.Name(),
            ["median_step_s"] = med,
            ["min_step_s"] = times[0],
            ["tokens_per_s"] = Batch * Seq / med,
            ["peak_rss_mb"] = peakRss,
            ["alloc_bytes_per_step"] = allocPerStep,
            ["flops_per_step"] = config.TrainingStepFlops(Batch, Seq, Predictions),
            ["profile"] = profile,
            ["kernels"] = kernels,
        };
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    private static (int[], int[], int[], int[], int[], float[], int[]) RandomBatch()
    {
        var rng = new SplitMix64(3);
        var ids = new int[Batch * Seq];
        var types = new int[Batch * Seq];
        var mask = new int[Batch * Seq];
        var positions = new int[Batch * Predictions];
        var labels = new int[Batch * Predictions];
        var weights = new float[Batch * Predictions];
        var nsp = new int[Batch];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = 5 + rng.NextInt(Vocab - 5);
            types[i] = i % Seq >= Seq / 2 ? 1 : 0;
            mask[i] = 1;
        }
        for (int b = 0; b < Batch; b++)
        {
            // 20 distinct positions in [1, Seq-1), ascending (every 6th position, shifted).
            int shift = rng.NextInt(6);
            for (int k = 0; k < Predictions; k++)
            {
                positions[b * Predictions + k] = 1 + shift + 6 * k;
                labels[b * Predictions + k] = 5 + rng.NextInt(Vocab - 5);
                weights[b * Predictions + k] = 1f;
            }
            nsp[b] = rng.NextInt(2);
        }
        return (ids, types, mask, positions, labels, weights, nsp);
    }

    private static double PeakRssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    private static double Median(IEnumerable<double> x)
    {
        var s = x.OrderBy(v => v).ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>GFLOP/s of every GEMM form a training step calls, at this preset's shapes (interleaved rounds, medians).</summary>
    private static void GemmShapes(string preset, int threads, int rounds, Precision precision)
    {
        KernelParallel.ThreadCount = threads;
        var c = BertConfig.FromPreset(preset, Vocab);
        int n = Batch * Seq, h = c.HiddenSize, i4 = c.IntermediateSize, m = Batch * Predictions, v = c.VocabSize;
        var list = new List<(string Name, bool Ta, bool Tb, int M, int N, int K, float Beta)>
        {
            ("qkv fwd      x·Wᵀ", false, true, n, 3 * h, h, 0f),
            ("qkv dW      dyᵀ·x", true, false, 3 * h, h, n, 1f),
            ("qkv dx       dy·W", false, false, n, h, 3 * h, 1f),
            ("ffn1 fwd     x·Wᵀ", false, true, n, i4, h, 0f),
            ("ffn1 dW     dyᵀ·x", true, false, i4, h, n, 1f),
            ("ffn1 dx      dy·W", false, false, n, h, i4, 1f),
            ("ffn2 fwd     x·Wᵀ", false, true, n, h, i4, 0f),
            ("ffn2 dW     dyᵀ·x", true, false, h, i4, n, 1f),
            ("ffn2 dx      dy·W", false, false, n, i4, h, 0f),
            ("mlm fwd      t·Eᵀ", false, true, m, v, h, 0f),
            ("mlm dE      dlᵀ·t", true, false, v, h, m, 1f),
            ("mlm dt       dl·E", false, false, m, h, v, 0f),
        };
        var rng = new SplitMix64(1);
        Console.WriteLine($"{preset}: GEMM forms of a training step in {precision.Name()}, {threads} threads (median of {rounds} rounds)");
        void Run(bool ta, bool tb, int m, int n, int k, float[] a, int lda, float[] b, int ldb, float beta, float[] c)
        {
            if (precision == Precision.Bf16) Gemm.SgemmBf16<float, float, float>(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, n);
            else Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, n);
        }
        var results = list.Select(_ => new List<double>()).ToArray();
        var bufs = list.Select(s => (A: Fill(new float[(long)s.M * s.K], ref rng), B: Fill(new float[(long)s.K * s.N], ref rng), C: new float[(long)s.M * s.N])).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int j = 0; j < list.Count; j++)
            {
                var s = list[j];
                var (a, b, cc) = bufs[j];
                int lda = s.Ta ? s.M : s.K, ldb = s.Tb ? s.K : s.N;
                Run(s.Ta, s.Tb, s.M, s.N, s.K, a, lda, b, ldb, s.Beta, cc);
                long t0 = Stopwatch.GetTimestamp();
                for (int k = 0; k < 3; k++) Run(s.Ta, s.Tb, s.M, s.N, s.K, a, lda, b, ldb, s.Beta, cc);
                double sec = Stopwatch.GetElapsedTime(t0).TotalSeconds / 3;
                results[j].Add(2.0 * s.M * s.N * s.K / sec / 1e9);
            }
        for (int j = 0; j < list.Count; j++)
            Console.WriteLine($"  {list[j].Name}  {list[j].M,6} x {list[j].N,6} x {list[j].K,6} (M x N x K)  {Median(results[j]),7:F1} GFLOP/s");
    }

    private static float[] Fill(float[] x, ref SplitMix64 rng)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() - 0.5);
        return x;
    }

    // ---- FMA peak ----

    // The same register-only peak as the GEMM suite: the faster of Vector256 and Vector512 FMA chains (on Zen 5 the
    // 512-bit units are full width, so a Vector256-only peak would be half the machine's and MFU would pass 100 %).
    private static double FmaPeak(int threads) => GemmSuite.FmaPeak(threads, 3);
}
