using System.Diagnostics;
using BertSharp.IO;
using BertSharp.Pipelines;
using BertSharp.Tensors;
using BertSharp.Text;

namespace BertSharp.Bench.Suites;

/// <summary>
/// Classification speed of whole models, side by side in one process (a teacher and its distilled student, say): real
/// IMDB test reviews (raw text: tokenizing is part of the work) through each model's ClassificationPipeline at each
/// length (reviews cut head + tail to it, shorter ones as they are), in batches, reviews/s, in interleaved rounds
/// (model A, model B, A, ...) so machine load hits all alike; the median round is reported. Options: --models A,B
/// (model folders), --imdb-archive PATH, --lengths 128,512, --batch 32, --reviews 512, --threads 2, --rounds 5.
/// </summary>
public sealed class ClassifySuite : IBenchSuite
{
    public string Name => "classify";
    public string Description => "reviews/s of model folders' classification pipelines on IMDB test reviews (teacher vs student)";

    public int Run(string[] args)
    {
        var models = (Arg(args, "--models") ?? throw new ArgumentException("--models A,B: the model folders to time")).Split(',');
        string archive = Arg(args, "--imdb-archive") ?? "../shared/data/aclImdb_v1.tar.gz";
        int[] lengths = (Arg(args, "--lengths") ?? "128,512").Split(',').Select(int.Parse).ToArray();
        int batch = int.Parse(Arg(args, "--batch") ?? "32"), count = int.Parse(Arg(args, "--reviews") ?? "512");
        int rounds = int.Parse(Arg(args, "--rounds") ?? "5");
        KernelParallel.ThreadCount = int.Parse(Arg(args, "--threads") ?? "2");
        var test = LabelledCorpus.ReadImdb(archive).Test;
        // Evenly spread over the test set (both labels, all lengths), the same every run.
        List<string> texts = [.. Enumerable.Range(0, count).Select(i => test[(int)((long)i * test.Count / count)].Text)];
        var loaded = models.Select(m => PretrainedModel.Load(m)).ToList();
        Console.WriteLine($"{count} IMDB test reviews, batches of {batch}, {KernelParallel.ThreadCount} threads, {rounds} rounds, {Environment.ProcessorCount} cores, load {Load()}");
        for (int i = 0; i < models.Length; i++)
            Console.WriteLine($"model {models[i]}: {loaded[i].Config.NumHiddenLayers} layers, hidden {loaded[i].Config.HiddenSize}, {loaded[i].Parameters.Layout.ParameterCount:N0} parameters");
        Console.WriteLine($"| tokens | {string.Join(" | ", models.Select(m => Path.GetFileName(m.TrimEnd('/')) + " reviews/s"))} | {(models.Length == 2 ? "second / first |" : "")}");
        Console.WriteLine($"|---:|{string.Concat(Enumerable.Repeat("---:|", models.Length + (models.Length == 2 ? 1 : 0)))}");
        foreach (int length in lengths)
        {
            var pipelines = loaded.Select(m => new ClassificationPipeline(m, maxLength: length, batchSize: batch)).ToList();
            foreach (var p in pipelines) p.Run(texts.Take(batch).ToList()); // warm-up: buffers, JIT
            var rates = pipelines.Select(_ => new List<double>()).ToList();
            for (int r = 0; r < rounds; r++)
                for (int i = 0; i < pipelines.Count; i++)
                {
                    var sw = Stopwatch.StartNew();
                    pipelines[i].Run(texts);
                    rates[i].Add(count / sw.Elapsed.TotalSeconds);
                }
            var med = rates.Select(Median).ToList();
            Console.WriteLine($"| {length} | {string.Join(" | ", med.Select(x => x.ToString("F1")))} |{(med.Count == 2 ? $" {med[1] / med[0]:F2} |" : "")}");
        }
        Console.WriteLine($"load after: {Load()}");
        return 0;
    }

    private static double Median(List<double> x) { var s = x.Order().ToArray(); return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
