using System.Text;
using BertSharp.IO;
using BertSharp.Text;

namespace BertSharp.Runs;

/// <summary>summary.md of a pretraining run folder: corpus, vocabulary, model, training, final validation figures
/// beside their chance levels, the best validation loss, and the curves.</summary>
public static class RunSummary
{
    /// <summary>The file name in the run folder.</summary>
    public const string FileName = "summary.md";

    /// <summary>h:mm:ss (or m:ss under an hour).</summary>
    public static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
    }

    /// <summary>Writes summary.md into the result's run folder.</summary>
    public static void Write(PretrainingResult r, TokenizedCorpusManifest manifest, MetricsLog log, int threads)
    {
        var s = r.Settings;
        var v = r.LastValidation;
        var best = log.Validation.OrderBy(x => x.Loss).FirstOrDefault();
        var train = log.Rows.Where(x => x.Split == "train").ToList();
        double tps = train.Count > 0 ? train.Where(x => x.TokensPerSecond is not null).Select(x => x.TokensPerSecond!.Value).DefaultIfEmpty(0).Average() : 0;
        int vocab = r.VocabularySize;
        var sb = new StringBuilder();
        sb.Append($"# {r.Title}\n\n");
        sb.Append($"- corpus: `{s.Corpus}` ({s.CorpusPath}), {manifest.Documents:N0} documents, {manifest.Tokens:N0} tokens\n");
        sb.Append($"- vocabulary: {vocab:N0} WordPiece tokens ({(s.LowerCase ? "uncased" : "cased")})\n");
        sb.Append($"- model: {s.Preset ?? "custom config"}: {s.Model.NumHiddenLayers} layers, hidden {s.Model.HiddenSize}, {s.Model.NumAttentionHeads} heads, "
            + $"intermediate {s.Model.IntermediateSize}, {r.ParameterCount:N0} parameters\n");
        if (s.InitFrom is not null) sb.Append($"- started from: `{s.InitFrom}` (init_from in run.json)\n");
        if (s.Teacher is { } t)
            sb.Append($"- teacher: `{t.Path}` (pretraining distillation, teacher in run.json): {t.AlphaSoft:G3} x soft-target MLM at T = {t.Temperature:G3} "
                + $"+ {t.AlphaMlm:G3} x MLM + {t.AlphaNsp:G3} x NSP + {t.AlphaCos:G3} x cosine of the last hidden states (equal widths only)\n");
        if (s.CopyPositions is int cp) sb.Append($"- positions {cp} and beyond started as copies of positions 0-{cp - 1} (copy_positions in run.json)\n");
        sb.Append($"- training: {s.Steps:N0} steps of {s.BatchSize} x {s.SeqLength} tokens (x{s.GradAccum} accumulation), peak lr {s.LearningRate:G3} ({s.Schedule}, "
            + $"{s.WarmupSteps} warm-up steps), seed {s.Seed}\n");
        sb.Append($"- time: {Duration(r.TrainingSeconds)} of training, {tps:N0} tokens/s on average, {threads} threads\n\n");
        if (v is not null)
        {
            sb.Append("| validation (final) | value | chance |\n|---|---|---|\n");
            sb.Append($"| MLM accuracy | {v.MlmAccuracy:P1} | {1.0 / vocab:P3} uniform, {r.Baselines.MostFrequentToken:P1} most frequent token |\n");
            sb.Append($"| NSP accuracy | {v.NspAccuracy:P1} | {r.Baselines.NspMajority:P1} majority label |\n");
            sb.Append($"| MLM loss / perplexity | {v.MlmLoss:F3} / {Math.Exp(v.MlmLoss):F2} | {Math.Log(vocab):F3} / {vocab:N0} uniform |\n");
            sb.Append($"| NSP loss | {v.NspLoss:F3} | {Math.Log(2):F3} |\n");
            if (v.SoftLoss is double soft) sb.Append($"| soft-target loss (T²·KL from the teacher) | {soft:F4} | |\n");
            if (v.CosLoss is double cos) sb.Append($"| cosine loss (1 − cos with the teacher) | {cos:F4} | |\n");
            sb.Append('\n');
        }
        if (best is not null) sb.Append($"Best validation loss {best.Loss:F4} at step {best.Step:N0}.\n\n");
        sb.Append($"Final checkpoint: `{r.FinalCheckpoint}`\n\n![curves](curves.svg)\n");
        MetricsLog.WriteAtomic(Path.Combine(r.RunDir, FileName), sb.ToString());
    }
}
