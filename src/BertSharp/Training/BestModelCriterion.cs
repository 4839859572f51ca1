namespace BertSharp.Training;

/// <summary>Which validation figure makes a model the best so far, and whether higher is better.</summary>
public sealed record BestModelCriterion(ValidationMetric Metric, bool HigherIsBetter)
{
    /// <summary>Lowest validation loss (pretraining's default).</summary>
    public static BestModelCriterion LowestLoss { get; } = new(ValidationMetric.Loss, false);
    /// <summary>Highest validation accuracy of a classifier (fine-tuning's default).</summary>
    public static BestModelCriterion HighestLabelAccuracy { get; } = new(ValidationMetric.LabelAccuracy, true);

    /// <summary>True when <paramref name="value"/> beats <paramref name="best"/> (null: nothing yet); NaN never does.</summary>
    public bool Improves(double value, double? best) =>
        !double.IsNaN(value) && (best is not double b || (HigherIsBetter ? value > b : value < b));

    /// <summary>The name written into trainer_state.json and reports (e.g. <c>label_accuracy</c>).</summary>
    public string Name => Metric switch
    {
        ValidationMetric.Loss => "loss",
        ValidationMetric.MlmLoss => "mlm_loss",
        ValidationMetric.MlmAccuracy => "mlm_accuracy",
        ValidationMetric.NspAccuracy => "nsp_accuracy",
        ValidationMetric.LabelLoss => "label_loss",
        _ => "label_accuracy",
    };
}
