using System.Diagnostics;
using System.Text.Json;
using BertSharp.Cuda;
using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;

// The GPU checks of issue 15, one command each, every result also written as JSON to the output folder:
//   info                      the GPUs and library versions (or why there is none)
//   kernels OUT               every CUDA kernel against the CPU device's (max abs/rel error per kernel)
//   bench OUT [preset...]     training steps per preset in fp32, tf32 and bf16 on cuda:0 (tokens/s, ms/step, memory, MFU)
// Exit code: 0 all passed, 1 a check failed, 3 no usable GPU.
string command = args.Length > 0 ? args[0] : "info";
string outDir = args.Length > 1 ? args[1] : ".";
Directory.CreateDirectory(outDir);
var info = CudaInfo.Probe();
Console.WriteLine(info.Describe());
if (info.LibraryPaths.Count > 0) Console.WriteLine("libraries: " + string.Join(", ", info.LibraryPaths));
if (info.IsUsable) Console.WriteLine($"cuda:0 {CudaSelfCheck.Describe(CudaSelfCheck.Lookup(info, 0))}");
if (command == "info") return info.IsUsable ? 0 : 3;
if (!info.IsUsable) return 3;
var json = new JsonSerializerOptions { WriteIndented = true };

switch (command)
{
    case "kernels":
    {
        using var gpu = CudaDevice.Open(0);
        Console.WriteLine($"kernels: {gpu.ModuleSource}");
        var sw = Stopwatch.StartNew();
        var results = DeviceComparison.Run(Device.Cpu, gpu);
        Console.WriteLine($"{"kernel",-46} {"shape",-26} {"max abs",10} {"max rel",10} {"tol",8}  result");
        foreach (var r in results)
            Console.WriteLine($"{r.Kernel,-46} {r.Shape,-26} {r.MaxAbs,10:G3} {r.MaxRel,10:G3} {r.Tolerance,8:G2}  {(r.Passed ? "ok" : "FAIL " + r.Error)}");
        int failed = results.Count(r => !r.Passed);
        Console.WriteLine($"kernels: {results.Count - failed}/{results.Count} within tolerance ({sw.Elapsed.TotalSeconds:F1} s)");
        File.WriteAllText(Path.Combine(outDir, "kernels.json"), JsonSerializer.Serialize(new { device = gpu.Info.ToString(), results }, json));
        return failed == 0 ? 0 : 1;
    }
    case "bench":
    {
        var presets = args.Length > 2 ? args[2..] : ["tiny", "mini", "small", "base"];
        var rows = new List<Dictionary<string, object>>();
        const double PeakBf16 = 989e12; // H100/H200 SXM dense bf16 tensor-core peak
        string device = "";
        foreach (var preset in presets)
        foreach (var precision in new[] { Precision.Fp32, Precision.Tf32, Precision.Bf16 })
        {
            int batch = preset == "base" ? 64 : 128, seq = 128, predictions = 20, vocab = 30522;
            try
            {
                // A device per preset and precision, opened as the commands open it (self-check, then the precision)
                // and disposed after it: releasing the primary context frees the model's activations and the
                // optimiser's moments too, so each memory figure starts from an empty GPU.
                using var gpu = (CudaDevice)Devices.Open("cuda:0", precision, out _);
                device = gpu.Info.ToString();
                if (rows.Count == 0) Console.WriteLine($"kernels: {gpu.ModuleSource}");
                var config = BertConfig.FromPreset(preset, vocab);
                var (free0, _) = gpu.MemoryInfo();
                using var parameters = new BertParameters(config, device: gpu);
                parameters.Initialize(1);
                var model = new BertForPreTraining(parameters);
                var opt = new AdamWOptimizer(parameters, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads);
                var schedule = new LearningRateSchedule(ScheduleKind.Linear, 1e-4, 10, 10_000);
                var batchData = RandomBatch(batch, seq, predictions, vocab);
                long step = 0;
                void Step()
                {
                    parameters.ZeroGradients();
                    model.Forward(batchData, new DropoutContext(true, 7, (ulong)step));
                    model.Backward();
                    opt.Step(schedule.At(++step));
                }
                for (int i = 0; i < 3; i++) Step();
                gpu.Synchronize();
                int steps = preset == "base" ? 20 : 30;
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++) Step();
                gpu.Synchronize();
                double sec = sw.Elapsed.TotalSeconds / steps;
                var (free1, _) = gpu.MemoryInfo();
                double flops = config.TrainingStepFlops(batch, seq, predictions);
                var row = new Dictionary<string, object>
                {
                    ["preset"] = preset, ["precision"] = precision.Name(), ["batch"] = batch, ["seq"] = seq,
                    ["tokens_per_s"] = batch * seq / sec, ["ms_per_step"] = sec * 1e3,
                    ["memory_mib"] = (free0 - free1) / 1048576.0, ["mfu_vs_bf16_peak"] = flops / sec / PeakBf16,
                };
                rows.Add(row);
                Console.WriteLine($"bench {preset,-6} {precision.Name()} B{batch}xT{seq}: {row["tokens_per_s"],10:F0} tokens/s {row["ms_per_step"],8:F2} ms/step {row["memory_mib"],8:F0} MiB  MFU {100 * (double)row["mfu_vs_bf16_peak"]:F1}%");
            }
            catch (Exception e)
            {
                rows.Add(new() { ["preset"] = preset, ["precision"] = precision.Name(), ["error"] = e.GetType().Name + ": " + e.Message.Split('\n')[0] });
                Console.WriteLine($"bench {preset} {precision.Name()}: FAILED {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            }
        }
        File.WriteAllText(Path.Combine(outDir, "bench.json"), JsonSerializer.Serialize(new { device, rows }, json));
        return rows.All(r => !r.ContainsKey("error")) ? 0 : 1;
    }
    default:
        Console.Error.WriteLine($"error: unknown command {command} (info, kernels OUT, bench OUT [preset...])");
        return 2;
}

static BertBatch RandomBatch(int batch, int seq, int predictions, int vocab)
{
    var rng = new Random(3);
    var ids = new int[batch * seq]; var types = new int[batch * seq]; var mask = new int[batch * seq];
    var positions = new int[batch * predictions]; var labels = new int[batch * predictions];
    var weights = new float[batch * predictions]; var nsp = new int[batch];
    for (int i = 0; i < ids.Length; i++) { ids[i] = 5 + rng.Next(vocab - 5); types[i] = i % seq >= seq / 2 ? 1 : 0; mask[i] = 1; }
    for (int b = 0; b < batch; b++)
    {
        int shift = rng.Next(6);
        for (int k = 0; k < predictions; k++)
        {
            positions[b * predictions + k] = 1 + shift + 6 * k;
            labels[b * predictions + k] = 5 + rng.Next(vocab - 5);
            weights[b * predictions + k] = 1f;
        }
        nsp[b] = rng.Next(2);
    }
    return BertBatch.Create(batch, seq, predictions, ids, types, mask, positions, labels, weights, nsp);
}

