using System.Diagnostics;
using System.Globalization;
using System.Text;
using BertSharp.Runs;
using BertSharp.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace BertSharp.Cli.Pretraining;

/// <summary>What the display shows after a step.</summary>
public readonly record struct TrainingStatus(long Step, long TotalSteps, double Epoch, double Loss, double MlmAccuracy,
    double NspAccuracy, double LearningRate, double TokensPerSecond, double ElapsedSeconds, EvaluationReport? LastValidation);

/// <summary>
/// Training progress: on a terminal a live Spectre panel (progress bar with ETA, latest loss, accuracies,
/// learning rate, tokens/s and a sparkline of the loss); otherwise one plain line every
/// <see cref="PlainInterval"/> and one per evaluation, so logs of long runs stay readable. It is a trainer
/// callback; the stages before training report through it too (<see cref="Report"/>).
/// </summary>
public sealed class TrainingDisplay : ITrainerCallback, IProgress<PretrainingProgress>
{
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(15);
    private readonly bool _live;
    private readonly TextWriter _log;
    private readonly List<double> _losses = [];
    private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    private LiveDisplayContext? _ctx;
    private readonly Stopwatch _session = Stopwatch.StartNew();
    private readonly Stopwatch _sinceProgress = Stopwatch.StartNew();
    private readonly Queue<(long Tokens, double Seconds)> _recent = new();
    private long _recentTokens, _firstStep = -1;
    private double _recentSeconds;
    private TrainingStatus? _last;
    private EvaluationReport? _lastValidation;
    private double? _lastProgress;

    /// <summary>Called after every step with its number (tests cancel from here).</summary>
    public Action<long>? AfterStep { get; init; }

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

    /// <inheritdoc/>
    public void OnStep(in StepReport r)
    {
        if (_firstStep < 0) { _firstStep = r.Step - 1; _session.Restart(); }
        _recent.Enqueue((r.Tokens, r.Seconds));
        (_recentTokens, _recentSeconds) = (_recentTokens + r.Tokens, _recentSeconds + r.Seconds);
        if (_recent.Count > 20)
        {
            var (t, sec) = _recent.Dequeue();
            (_recentTokens, _recentSeconds) = (_recentTokens - t, _recentSeconds - sec);
        }
        Step(new TrainingStatus(r.Step, r.TotalSteps, r.Epoch, r.Loss, r.MlmAccuracy, r.NspAccuracy, r.LearningRate,
            _recentTokens / Math.Max(_recentSeconds, 1e-9), _session.Elapsed.TotalSeconds, null));
        AfterStep?.Invoke(r.Step);
    }

    /// <inheritdoc/>
    public void OnEvaluation(EvaluationReport e)
    {
        Evaluation(e, _last?.TotalSteps ?? 0);
        AfterEvaluation?.Invoke(e.Step);
    }

    /// <summary>Called after each evaluation with its step (0: the one before the first update; tests cancel from here).</summary>
    public Action<long>? AfterEvaluation { get; init; }

    /// <summary>A stage's line (kept) or progress (a plain line at most every few seconds; the live panel's text on a terminal).</summary>
    public void Report(PretrainingProgress p)
    {
        if (!p.Transient)
        {
            Note(p.Message);
            return;
        }
        if (_sinceProgress.Elapsed.TotalSeconds - (_lastProgress ?? -10) < 5) return;
        _lastProgress = _sinceProgress.Elapsed.TotalSeconds;
        string text = p.Fraction is double f ? $"{p.Stage}: {p.Message} ({f:P0})" : $"{p.Stage}: {p.Message}";
        if (_ctx is { } ctx && _last is null) ctx.UpdateTarget(new Spectre.Console.Text(text));
        else if (_ctx is null) _log.WriteLine(text);
    }

    private void Step(in TrainingStatus s)
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

    private void Evaluation(EvaluationReport v, long totalSteps)
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

    private string Line(in TrainingStatus s) =>
        $"step {s.Step}/{s.TotalSteps} (epoch {s.Epoch:F2}): loss {s.Loss:F4}, MLM acc {s.MlmAccuracy:P1}, NSP acc {s.NspAccuracy:P1}, "
        + $"lr {s.LearningRate:E2}, {s.TokensPerSecond:N0} tokens/s, {Duration(s.ElapsedSeconds)} elapsed, ETA {Duration(Eta(s))}";

    // This session's pace (a resumed run's earlier sessions are not in the session clock).
    private double Eta(in TrainingStatus s) =>
        s.Step - _firstStep <= 0 ? 0 : s.ElapsedSeconds / (s.Step - _firstStep) * (s.TotalSteps - s.Step);

    /// <summary>h:mm:ss (or m:ss under an hour).</summary>
    public static string Duration(double seconds) => RunSummary.Duration(seconds);

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
