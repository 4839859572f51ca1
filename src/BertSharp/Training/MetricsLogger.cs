using System.Diagnostics;
using BertSharp.IO;

namespace BertSharp.Training;

/// <summary>
/// The callback that keeps a pretraining run folder's record: a row per step and per evaluation in metrics.jsonl
/// and metrics.csv (<see cref="MetricsLog"/>), curves.svg redrawn after each evaluation and at the end. Elapsed
/// times continue from the log's last row, so a resumed run's files read as one run.
/// </summary>
public sealed class MetricsLogger : ITrainerCallback
{
    private readonly MetricsLog _log;
    private readonly string _title;
    private readonly double _mlmChance, _nspChance;
    private readonly double _elapsedBefore;
    private readonly Stopwatch _session = Stopwatch.StartNew();

    /// <param name="log">the run folder's metrics files</param>
    /// <param name="title">title of curves.svg</param>
    /// <param name="mlmChance">MLM accuracy of always predicting the most frequent token (a reference line)</param>
    /// <param name="nspChance">NSP accuracy of always answering the majority label (a reference line)</param>
    public MetricsLogger(MetricsLog log, string title, double mlmChance, double nspChance)
    {
        (_log, _title, _mlmChance, _nspChance) = (log, title, mlmChance, nspChance);
        _elapsedBefore = log.LastElapsed;
    }

    /// <summary>Seconds of training so far, earlier sessions included.</summary>
    public double Elapsed => _elapsedBefore + _session.Elapsed.TotalSeconds;

    /// <inheritdoc/>
    public void OnStep(in StepReport r)
    {
        _log.Add(new MetricRow
        {
            Step = r.Step, Epoch = r.Epoch, LearningRate = r.LearningRate, Loss = r.Loss, MlmLoss = r.MlmLoss, NspLoss = r.NspLoss,
            MlmAccuracy = r.MlmAccuracy, NspAccuracy = r.NspAccuracy, GradNorm = r.GradNorm, TokensPerSecond = r.TokensPerSecond, Elapsed = Elapsed,
            SoftLoss = SoftLoss(r.Metrics), CosLoss = CosLoss(r.Metrics),
        });
    }

    /// <inheritdoc/>
    public void OnEvaluation(EvaluationReport e)
    {
        _log.Add(new MetricRow
        {
            Split = "validation", Step = e.Step, Epoch = e.Epoch, LearningRate = e.LearningRate, Loss = e.Loss,
            MlmLoss = e.MlmLoss, NspLoss = e.NspLoss, MlmAccuracy = e.MlmAccuracy, NspAccuracy = e.NspAccuracy, Elapsed = Elapsed,
            SoftLoss = SoftLoss(e.Metrics), CosLoss = CosLoss(e.Metrics),
        });
        _log.WriteCurves(_title, _mlmChance, _nspChance);
    }

    // A teacher's terms, only where a teacher took part (and, for the cosine term, was as wide as the student).
    private static double? SoftLoss(in Model.TaskMetrics m) => m.PretrainingDistillation is null ? null : m.SoftMlmLoss;
    private static double? CosLoss(in Model.TaskMetrics m) => m.CosineCount > 0 ? m.CosineLoss : null;

    /// <inheritdoc/>
    public void OnCheckpoint(CheckpointReport checkpoint) => _log.FlushCsv();

    /// <inheritdoc/>
    public void OnEnd(TrainingReport report)
    {
        _log.FlushCsv();
        _log.WriteCurves(_title, _mlmChance, _nspChance);
    }
}
