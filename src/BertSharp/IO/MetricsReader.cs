using System.Text.Json;

namespace BertSharp.IO;

/// <summary>
/// Reads a run's metrics.jsonl for summaries: its validation rows and the training time. A torn last line (a run
/// stopped mid-write) ends the reading instead of failing it.
/// <code>
/// var log = new MetricsReader("runs/sample/metrics.jsonl");
/// Console.WriteLine($"best validation loss {log.Best?.Loss} at step {log.Best?.Step}");
/// </code>
/// </summary>
public sealed class MetricsReader
{
    private readonly List<MetricRow> _validation = [];

    /// <summary>Reads <paramref name="path"/> (a metrics.jsonl file).</summary>
    public MetricsReader(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            MetricRow? row;
            try { row = JsonSerializer.Deserialize<MetricRow>(line, MetricsLog.JsonOptions); }
            catch (JsonException) { break; }
            if (row is null) continue;
            Elapsed = Math.Max(Elapsed, row.Elapsed);
            if (row.Split == "validation") _validation.Add(row);
        }
    }

    /// <summary>The metrics.jsonl of <paramref name="runDir"/>, or null when the run has none (yet).</summary>
    public static MetricsReader? OpenRun(string runDir)
    {
        string path = Path.Combine(runDir, MetricsLog.JsonlName);
        return File.Exists(path) ? new MetricsReader(path) : null;
    }

    /// <summary>Wall-clock seconds of training the log records (the largest elapsed time of any row).</summary>
    public double Elapsed { get; }
    /// <summary>The validation rows, in the order written.</summary>
    public IReadOnlyList<MetricRow> Validation => _validation;
    /// <summary>The last evaluation, or null without any.</summary>
    public MetricRow? Last => _validation.LastOrDefault();
    /// <summary>The evaluation with the lowest loss (the first of equals), or null without any.</summary>
    public MetricRow? Best => _validation.OrderBy(r => r.Loss).FirstOrDefault();
    /// <summary>The last evaluation at or before <paramref name="step"/>, or null without one.</summary>
    public MetricRow? AtOrBefore(long step) => _validation.LastOrDefault(r => r.Step <= step);
}
