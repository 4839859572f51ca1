using System.Diagnostics;
using System.Globalization;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace BertSharp.Cli.Pretraining;

/// <summary>What the display shows after a step.</summary>
public readonly record struct TrainingStatus(long Step, long TotalSteps, double Epoch, double Loss, double MlmAccuracy,
    double NspAccuracy, double LearningRate, double TokensPerSecond, double ElapsedSeconds, MetricRow? LastValidation);

/// <summary>
/// Training progress: on a terminal a live Spectre panel (progress bar with ETA, latest loss, accuracies,
/// learning rate, tokens/s and a sparkline of the loss); otherwise one plain line every
/// <see cref="PlainInterval"/> and one per evaluation, so logs of long runs stay readable.
/// </summary>
public sealed class TrainingDisplay
{
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(15);
    private readonly bool _live;
    private readonly TextWriter _log;
    private readonly List<double> _losses = [];
    private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    private LiveDisplayContext? _ctx;
    private TrainingStatus? _last;
    private MetricRow? _lastValidation;

    public TrainingDisplay(bool live, TextWriter log) => (_live, _log) = (live, log);

    /// <summary>Runs the training loop inside the display.</summary>
    public T Run<T>(Func<T> body)
    {
        if (!_live) return body();
        T result = default!;
        AnsiConsole.Live(new Spectre.Console.Text("starting training...")).AutoClear(false).Overflow(VerticalOverflow.Ellipsis).Start(ctx =>
        {
            _ctx = ctx;
            try { result = body(); }
            finally { if (_last is { } s) ctx.UpdateTarget(Render(s)); _ctx = null; }
        });
        return result;
    }

    public void Step(in TrainingStatus s)
    {
        _losses.Add(s.Loss);
        _last = s;
        if (_ctx is { } ctx)
        {
            ctx.UpdateTarget(Render(s));
            return;
        }
        if (s.Step == 1 || s.Step == s.TotalSteps || _sinceLine.Elapsed >= PlainInterval)
        {
            _sinceLine.Restart();
            _log.WriteLine(Line(s));
        }
    }

    public void Evaluation(MetricRow v, long totalSteps)
    {
        string line = $"eval  step {v.Step}/{totalSteps}: loss {v.Loss:F4} (mlm {v.MlmLoss:F4}, nsp {v.NspLoss:F4}), "
            + $"MLM accuracy {v.MlmAccuracy:P1}, NSP accuracy {v.NspAccuracy:P1}, MLM perplexity {Math.Exp(v.MlmLoss):F2}";
        _lastValidation = v;
        if (_ctx is { } ctx && _last is { } s) ctx.UpdateTarget(Render(s));
        else _log.WriteLine(line);
    }

    public void Note(string message)
    {
        if (_ctx is null) _log.WriteLine(message);
        else AnsiConsole.MarkupLine(Markup.Escape(message));
    }

    private static string Line(in TrainingStatus s) =>
        $"step {s.Step}/{s.TotalSteps} (epoch {s.Epoch:F2}): loss {s.Loss:F4}, MLM acc {s.MlmAccuracy:P1}, NSP acc {s.NspAccuracy:P1}, "
        + $"lr {s.LearningRate:E2}, {s.TokensPerSecond:N0} tokens/s, {Duration(s.ElapsedSeconds)} elapsed, ETA {Duration(Eta(s))}";

    private static double Eta(in TrainingStatus s) =>
        s.Step <= 0 ? 0 : s.ElapsedSeconds / s.Step * (s.TotalSteps - s.Step);

    public static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
    }

    private IRenderable Render(in TrainingStatus s)
    {
        double fraction = s.TotalSteps > 0 ? (double)s.Step / s.TotalSteps : 0;
        const int width = 24;
        int filled = (int)Math.Round(fraction * width);
        string bar = new string('━', filled) + new string('─', width - filled);
        var rows = new List<IRenderable>
        {
            new Markup($"[bold]training[/] [green]{bar[..filled]}[/][grey]{bar[filled..]}[/] {fraction,4:P0} step {s.Step:N0}/{s.TotalSteps:N0} "
                + $"epoch {s.Epoch:F2} {Duration(s.ElapsedSeconds)} ETA {Duration(Eta(s))}"),
            new Markup(Markup.Escape($"loss {s.Loss:F4}  MLM acc {s.MlmAccuracy:P1}  NSP acc {s.NspAccuracy:P1}  lr {s.LearningRate:E2}  {s.TokensPerSecond:N0} tok/s")),
            new Markup($"loss [blue]{Sparkline(_losses, 50)}[/]"),
        };
        if ((s.LastValidation ?? _lastValidation) is { } v)
            rows.Add(new Markup(Markup.Escape($"validation @{v.Step}: loss {v.Loss:F4}  MLM acc {v.MlmAccuracy:P1}  NSP acc {v.NspAccuracy:P1}  ppl {Math.Exp(v.MlmLoss):F1}")));
        return new Rows(rows);
    }

    /// <summary>The values as block characters ▁..█, averaged into at most <paramref name="width"/> buckets.</summary>
    public static string Sparkline(IReadOnlyList<double> values, int width)
    {
        const string blocks = "▁▂▃▄▅▆▇█";
        if (values.Count == 0) return "";
        int n = Math.Min(width, values.Count);
        var buckets = new double[n];
        for (int i = 0; i < n; i++)
        {
            int a = (int)((long)i * values.Count / n), b = (int)((long)(i + 1) * values.Count / n);
            double sum = 0;
            for (int j = a; j < b; j++) sum += values[j];
            buckets[i] = sum / Math.Max(1, b - a);
        }
        double min = buckets.Min(), max = buckets.Max();
        var sb = new StringBuilder(n);
        foreach (double v in buckets)
            sb.Append(blocks[max > min ? (int)Math.Round((v - min) / (max - min) * (blocks.Length - 1)) : 0]);
        return sb.ToString();
    }

    internal static string Invariant(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
