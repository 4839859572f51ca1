using BertSharp.Files;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BertSharp.IO;

/// <summary>
/// metrics.jsonl (every row) and metrics.csv (one row per step, validation columns filled at evaluations),
/// appended as training goes. On resume, rows after the checkpoint's step are dropped first, so the files
/// read as if the run had never stopped.
/// </summary>
public sealed class MetricsLog
{
    /// <summary>File names inside the run folder.</summary>
    public const string JsonlName = "metrics.jsonl", CsvName = "metrics.csv", CurvesName = "curves.svg";
    private const string CsvHeader = "step,epoch,lr,loss,mlm_loss,nsp_loss,mlm_acc,nsp_acc,grad_norm,tokens_per_s,elapsed_s,"
        + "val_loss,val_mlm_loss,val_nsp_loss,val_mlm_acc,val_nsp_acc,val_mlm_perplexity";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    /// <summary>How metrics.jsonl is written and read: a non-finite figure (a diverged step) is the string "NaN",
    /// "Infinity" or "-Infinity", as in trainer_state.json, never a crash of the writer.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly string _dir;
    private MetricRow? _pendingTrain; // the step's CSV row waits for a possible evaluation at the same step

    /// <summary>Every row so far (those kept from before a resume included), in order.</summary>
    public List<MetricRow> Rows { get; } = [];

    /// <summary>Opens the log of <paramref name="runDir"/>: keeps the existing rows up to <paramref
    /// name="keepUpToStep"/> (a torn last line is dropped) and rewrites both files with them.</summary>
    public MetricsLog(string runDir, long keepUpToStep)
    {
        _dir = runDir;
        string jsonl = Path.Combine(runDir, JsonlName);
        if (File.Exists(jsonl))
            foreach (var line in File.ReadLines(jsonl))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                MetricRow? row;
                try { row = JsonSerializer.Deserialize<MetricRow>(line, JsonOptions); }
                catch (JsonException) { break; } // a torn last line from a crash: drop it and what follows
                if (row is null || row.Step > keepUpToStep) continue;
                Rows.Add(row);
            }
        Rewrite();
    }

    /// <see cref="MetricRow.Elapsed"/> of the last row (0 when empty): where a resumed run's clock continues.
    public double LastElapsed => Rows.Count > 0 ? Rows[^1].Elapsed : 0;
    /// <summary>The evaluation rows.</summary>
    public IEnumerable<MetricRow> Validation => Rows.Where(r => r.Split == "validation");

    /// <summary>Appends <paramref name="row"/> to metrics.jsonl at once; its CSV line waits for a possible evaluation
    /// at the same step (<see cref="FlushCsv"/>).</summary>
    public void Add(MetricRow row)
    {
        Rows.Add(row);
        File.AppendAllText(Path.Combine(_dir, JsonlName), JsonSerializer.Serialize(row, JsonOptions) + "\n");
        if (row.Split == "train")
        {
            FlushCsv();
            _pendingTrain = row;
        }
        else
        {
            AppendCsv(_pendingTrain?.Step == row.Step ? _pendingTrain : null, row);
            _pendingTrain = null;
        }
    }

    /// <summary>Writes the step row still waiting for an evaluation.</summary>
    public void FlushCsv()
    {
        if (_pendingTrain is { } p) AppendCsv(p, null);
        _pendingTrain = null;
    }

    private void Rewrite()
    {
        var json = new StringBuilder();
        foreach (var r in Rows) json.Append(JsonSerializer.Serialize(r, JsonOptions)).Append('\n');
        WriteAtomic(Path.Combine(_dir, JsonlName), json.ToString());
        var csv = new StringBuilder(CsvHeader + "\n");
        var trainByStep = Rows.Where(r => r.Split == "train").GroupBy(r => r.Step).ToDictionary(g => g.Key, g => g.Last());
        var valByStep = Rows.Where(r => r.Split == "validation").GroupBy(r => r.Step).ToDictionary(g => g.Key, g => g.Last());
        foreach (long step in trainByStep.Keys.Union(valByStep.Keys).Order())
            csv.Append(CsvLine(trainByStep.GetValueOrDefault(step), valByStep.GetValueOrDefault(step)));
        WriteAtomic(Path.Combine(_dir, CsvName), csv.ToString());
    }

    private void AppendCsv(MetricRow? t, MetricRow? v) => File.AppendAllText(Path.Combine(_dir, CsvName), CsvLine(t, v));

    private static string CsvLine(MetricRow? t, MetricRow? v)
    {
        var r = t ?? v!;
        string N(double? x, string f = "G6") => x is double d ? d.ToString(f, Inv) : "";
        return string.Join(',',
            r.Step.ToString(Inv), N(r.Epoch, "F4"), N(r.LearningRate, "G6"),
            N(t?.Loss), N(t?.MlmLoss), N(t?.NspLoss), N(t?.MlmAccuracy), N(t?.NspAccuracy), N(t?.GradNorm), N(t?.TokensPerSecond, "F0"), N(r.Elapsed, "F2"),
            N(v?.Loss), N(v?.MlmLoss), N(v?.NspLoss), N(v?.MlmAccuracy), N(v?.NspAccuracy), N(v is null ? null : Math.Exp(v.MlmLoss))) + "\n";
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> through a temporary file and a rename, so
    /// readers never see half a file.</summary>
    public static void WriteAtomic(string path, string text) => AtomicFile.WriteAllText(path, text);

    /// <summary>curves.svg: losses, MLM accuracy, NSP accuracy (with the majority-label level), learning rate. Training curves are
    /// smoothed (a running mean over ~2% of the steps) and drawn over their faint raw values.</summary>
    public void WriteCurves(string title, double mlmChance, double nspChance)
    {
        var train = Rows.Where(r => r.Split == "train").ToList();
        var val = Validation.ToList();
        int window = Math.Max(1, train.Count / 50);
        List<(double, double)> Raw(Func<MetricRow, double> f) => train.Select(r => ((double)r.Step, f(r))).ToList();
        List<(double, double)> Smooth(Func<MetricRow, double> f)
        {
            var result = new List<(double, double)>(train.Count);
            double sum = 0;
            for (int i = 0; i < train.Count; i++)
            {
                sum += f(train[i]);
                if (i >= window) sum -= f(train[i - window]);
                result.Add((train[i].Step, sum / Math.Min(i + 1, window)));
            }
            return result;
        }
        List<(double, double)> Val(Func<MetricRow, double> f) => val.Select(r => ((double)r.Step, f(r))).ToList();
        const string blue = "#1f77b4", orange = "#ff7f0e", green = "#2ca02c", red = "#d62728", purple = "#9467bd";

        var loss = new Panel { Title = "Loss (MLM + NSP)" };
        loss.Series.Add(new Series("train (raw)", Raw(r => r.Loss), blue, 1, Opacity: 0.25));
        loss.Series.Add(new Series(window > 1 ? $"train (mean of {window} steps)" : "train", Smooth(r => r.Loss), blue, 2));
        loss.Series.Add(new Series("validation", Val(r => r.Loss), orange, 2, Markers: true));
        loss.Series.Add(new Series("val. MLM", Val(r => r.MlmLoss), red, 1.2, Markers: true, Dash: "4 3"));
        loss.Series.Add(new Series("val. NSP", Val(r => r.NspLoss), purple, 1.2, Markers: true, Dash: "4 3"));

        var mlm = new Panel { Title = "MLM accuracy (masked tokens)", YRange = (0, 1), YFormat = "P0", Reference = (mlmChance, $"most frequent token {mlmChance:P1}") };
        mlm.Series.Add(new Series("train (raw)", Raw(r => r.MlmAccuracy), blue, 1, Opacity: 0.25));
        mlm.Series.Add(new Series("train", Smooth(r => r.MlmAccuracy), blue, 2));
        mlm.Series.Add(new Series("validation", Val(r => r.MlmAccuracy), orange, 2, Markers: true));

        var nsp = new Panel { Title = "NSP accuracy (is B the next segment?)", YRange = (0, 1), YFormat = "P0", Reference = (nspChance, $"majority label {nspChance:P1}") };
        nsp.Series.Add(new Series("train (raw)", Raw(r => r.NspAccuracy), blue, 1, Opacity: 0.25));
        nsp.Series.Add(new Series("train", Smooth(r => r.NspAccuracy), blue, 2));
        nsp.Series.Add(new Series("validation", Val(r => r.NspAccuracy), orange, 2, Markers: true));

        var lr = new Panel { Title = "Learning rate" };
        lr.Series.Add(new Series("lr", Raw(r => r.LearningRate), green, 2));

        WriteAtomic(Path.Combine(_dir, CurvesName), SvgChart.Render(title, [loss, mlm, nsp, lr]));
    }
}
