using System.Text;
using BertSharp.Cli;

namespace BertSharp.Tests.Cli;

/// <summary>Runs bertsharp commands in-process with captured output, plus small data for them.</summary>
internal static class CliTestSupport
{
    public sealed record Result(int Code, string Out, string Err);

    public static Result Run(string[] args, string? stdin = null, Action<long>? afterStep = null, CancellationToken cancel = default,
        Action<long>? afterEvaluation = null)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var overrides = new CliConsole.Overrides { Out = output, Err = error, In = new StringReader(stdin ?? ""), AfterStep = afterStep, AfterEvaluation = afterEvaluation };
        int code = CliConsole.With(overrides, () => CliRunner.RunAsync(CliRunner.CreateRoot(), args, error, cancel)).GetAwaiter().GetResult();
        return new Result(code, output.ToString(), error.ToString());
    }

    /// <summary>A small review-like corpus (one sentence per line, blank lines between documents) with enough
    /// structure and documents for a split, deterministic.</summary>
    public static string WriteCorpus(string path, int documents = 80)
    {
        string[] titles = ["red river", "cold harbor", "lost signal", "quiet garden", "long road"];
        string[] good = ["wonderful", "brilliant", "superb"], bad = ["terrible", "boring", "awful"];
        string[] places = ["a small town", "a space station", "an old farm", "a big city"];
        var rng = new Random(7);
        var sb = new StringBuilder();
        for (int d = 0; d < documents; d++)
        {
            if (d > 0) sb.Append('\n');
            bool pos = rng.Next(2) == 0;
            string adj = (pos ? good : bad)[rng.Next(3)];
            sb.Append($"i watched the {titles[rng.Next(titles.Length)]} and it was {adj}.\n");
            sb.Append($"the story is set in {places[rng.Next(places.Length)]}.\n");
            sb.Append($"the acting is {adj} and the music is {(pos ? "lovely" : "loud")}.\n");
            sb.Append(pos ? "i loved every minute of it.\n" : "i want my time back.\n");
            sb.Append($"{(pos ? "nine" : "two")} out of ten.\n");
        }
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    /// <summary>A tiny BERT config (hidden 32, 2 layers) so training steps take milliseconds.</summary>
    public static string WriteTinyConfig(string path)
    {
        File.WriteAllText(path, """
            {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 64}
            """);
        return path;
    }

    /// <summary>pretrain arguments for a tiny run in <paramref name="runDir"/>.</summary>
    public static string[] TinyPretrain(string corpus, string config, string runDir, int steps = 6, int seq = 32) =>
    [
        "pretrain", "--corpus", corpus, "--config", config, "--run-dir", runDir, "--seq-length", seq.ToString(), "--batch-size", "4",
        "--steps", steps.ToString(), "--warmup", "2", "--lr", "2e-3", "--eval-every", "3", "--checkpoint-every", "3", "--eval-batches", "2",
        "--threads", "1",
    ];

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("bertsharp-cli-").FullName;
        public string this[string name] => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
