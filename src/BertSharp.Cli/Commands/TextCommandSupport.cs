using System.CommandLine;
using System.Diagnostics;
using BertSharp.Text;
using Spectre.Console;

namespace BertSharp.Cli.Commands;

/// <summary>What the text commands share: corpus options and progress (a live bar on a terminal, a plain line every few seconds otherwise).</summary>
internal static class TextCommandSupport
{
    public static Option<string> CorpusOption() => new("--corpus")
    {
        Description = "The corpus: aclImdb_v1.tar.gz or an aclImdb folder, a folder of .txt files, a text file "
            + "(documents separated by blank lines), or a .jsonl file with a \"text\" field",
        Required = true,
    };

    public static Option<string> FormatOption() => new("--format")
    {
        Description = $"How to read --corpus: {string.Join(", ", CorpusFormats.Names)}",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<bool> CasedOption() => new("--cased")
    {
        Description = "Keep case and accents (BERT cased); the default lowercases and strips accents (uncased)",
    };

    public static Option<int> ThreadsOption()
    {
        var option = new Option<int>("--threads")
        {
            Description = "Worker threads (0: one per core); the output never depends on it",
            DefaultValueFactory = _ => 0,
        };
        // The same rule and words as pretrain's and finetune's --threads.
        option.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads: must be 0 (one per core) or more"); });
        return option;
    }

    public static CorpusFormat ParseFormat(string value) => CorpusFormats.Parse(value, "--format");

    public static CorpusReader OpenCorpus(string path, string format) => CorpusReader.Open(path, ParseFormat(format));

    public static void ReportReadStats(CorpusReadStats stats)
    {
        foreach (var line in stats.WarningLines()) CliConsole.Err.WriteLine(line);
    }

    /// <summary>Runs <paramref name="work"/> with a progress display it updates through the callback it is given
    /// (a status text and, when known, the fraction done).</summary>
    public static T WithProgress<T>(string title, Func<Action<string, double?>, T> work)
    {
        if (!CliConsole.IsTerminal)
        {
            var clock = Stopwatch.StartNew();
            double last = 0;
            var gate = new object();
            return work((text, fraction) =>
            {
                lock (gate)
                {
                    if (clock.Elapsed.TotalSeconds - last < 5) return;
                    last = clock.Elapsed.TotalSeconds;
                    CliConsole.Err.WriteLine(fraction is double f ? $"{title}: {text} ({f:P0})" : $"{title}: {text}");
                }
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: 1.0);
                task.IsIndeterminate = true;
                result = work((text, fraction) =>
                {
                    task.Description = Markup.Escape($"{title}: {text}");
                    if (fraction is double f)
                    {
                        task.IsIndeterminate = false;
                        task.Value = Math.Clamp(f, 0, 1);
                    }
                });
                task.Value = 1.0;
            });
        return result;
    }

    public static string Mb(long bytes) => $"{bytes / 1e6:F1} MB";
}
