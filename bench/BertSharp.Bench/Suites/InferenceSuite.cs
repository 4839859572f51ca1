using System.Diagnostics;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Onnx;
using BertSharp.Pipelines;
using BertSharp.Tensors;
using BertSharp.Text;
using Microsoft.ML.OnnxRuntime;

namespace BertSharp.Bench.Suites;

/// <summary>
/// Inference, side by side in one process: BertSharp's EmbeddingPipeline (texts → tokenize → encoder → mean pooling)
/// against ONNX Runtime running the same model exported by OnnxExporter (feature-extraction, float32, all graph
/// optimisations; ids given pre-tokenized). Sequences/s at each (length, batch), both on the same number of threads,
/// in interleaved rounds (BertSharp, ORT, BertSharp, ...) so a change in machine load hits both; the median round is
/// reported. Options: --preset mini, --vocab 8192, --threads 2, --rounds 5, --seconds 2 (per measurement),
/// --lengths 128,512, --batches 1,32.
/// </summary>
public sealed class InferenceSuite : IBenchSuite
{
    public string Name => "inference";
    public string Description => "BertSharp's embedding pipeline vs ONNX Runtime on the exported model (sequences/s)";

    public int Run(string[] args)
    {
        string preset = Arg(args, "--preset") ?? "mini";
        int vocabSize = int.Parse(Arg(args, "--vocab") ?? "8192"), threads = int.Parse(Arg(args, "--threads") ?? "2");
        int rounds = int.Parse(Arg(args, "--rounds") ?? "5");
        double seconds = double.Parse(Arg(args, "--seconds") ?? "2", System.Globalization.CultureInfo.InvariantCulture);
        int[] lengths = (Arg(args, "--lengths") ?? "128,512").Split(',').Select(int.Parse).ToArray();
        int[] batches = (Arg(args, "--batches") ?? "1,32").Split(',').Select(int.Parse).ToArray();
        KernelParallel.ThreadCount = threads;

        var config = BertConfig.FromPreset(preset, vocabSize);
        config.MaxPositionEmbeddings = Math.Max(config.MaxPositionEmbeddings, lengths.Max());
        var parameters = new BertParameters(config);
        parameters.Initialize(7);
        var vocab = Vocabulary.FromTokens(Vocabulary.DefaultSpecialTokens.Concat(Enumerable.Range(5, vocabSize - 5).Select(i => $"t{i}")));
        string dir = Path.Combine(Path.GetTempPath(), "bertsharp-bench-inference-" + Environment.ProcessId);
        var folder = new ModelFolder { Parameters = parameters, Vocabulary = vocab };
        var export = OnnxExporter.Export(folder, dir, new OnnxExportOptions { Task = OnnxTask.FeatureExtraction }, overwrite: true);
        var model = PretrainedModel.Load(dir);
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(export.Path, options);
        Console.WriteLine($"model: {preset} ({config.NumHiddenLayers} layers, hidden {config.HiddenSize}, vocab {vocabSize}, {parameters.Layout.ParameterCount:N0} parameters), "
            + $"{threads} threads, {rounds} rounds of {seconds} s, ONNX Runtime {OrtEnv.Instance().GetVersionString()}, {Environment.ProcessorCount} cores, load {Load()}");

        var rng = new Random(1);
        Console.WriteLine("| tokens | batch | BertSharp pipeline seq/s | ONNX Runtime seq/s | ORT / BertSharp |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (int length in lengths)
            foreach (int batch in batches)
            {
                // Texts of exactly length − 2 vocabulary words, so each sequence is [CLS] + words + [SEP] = length tokens.
                var texts = Enumerable.Range(0, batch).Select(_ => string.Join(' ', Enumerable.Range(0, length - 2).Select(_ => $"t{rng.Next(5, vocabSize)}"))).ToList();
                var pipeline = new EmbeddingPipeline(model, Pooling.Mean, length, batch);
                var ids = texts.SelectMany(t => new[] { 2L }.Concat(t.Split(' ').Select(w => (long)vocab.GetIdOrUnk(w))).Append(3L)).ToArray();
                long[] shape = [batch, length];
                using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
                using var maskValue = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), shape);
                using var typesValue = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
                var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = idsValue, ["attention_mask"] = maskValue, ["token_type_ids"] = typesValue };
                using var run = new RunOptions();
                void Ort() { using var o = session.Run(run, inputs, session.OutputNames); }
                void Ours() => pipeline.Run(texts);
                Ours(); Ort(); // warm-up: buffers, JIT, ORT's first-run allocations
                var ours = new List<double>(); var ort = new List<double>();
                for (int r = 0; r < rounds; r++)
                {
                    ours.Add(batch * Rate(Ours, seconds));
                    ort.Add(batch * Rate(Ort, seconds));
                }
                double a = Median(ours), b = Median(ort);
                Console.WriteLine($"| {length} | {batch} | {a:F1} | {b:F1} | {b / a:F2} |");
            }
        Console.WriteLine($"load after: {Load()}");
        Directory.Delete(dir, recursive: true);
        return 0;
    }

    /// <summary>Calls per second over at least <paramref name="seconds"/> (and at least 2 calls).</summary>
    private static double Rate(Action call, double seconds)
    {
        var sw = Stopwatch.StartNew();
        int n = 0;
        while (n < 2 || sw.Elapsed.TotalSeconds < seconds) { call(); n++; }
        return n / sw.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> x) { var s = x.Order().ToArray(); return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
