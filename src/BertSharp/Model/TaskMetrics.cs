namespace BertSharp.Model;

/// <summary>
/// What one forward pass (or many, added up) measured: the loss that was optimised and, per objective, the
/// sums and counts from which losses and accuracies average correctly over batches of any size. Pretraining
/// fills the MLM and NSP parts (and, with a teacher, the soft-target and cosine parts), classification the label part.
/// </summary>
public struct TaskMetrics
{
    /// <summary>The objective of this pass (MLM + NSP means, or the classification mean); for sums of several
    /// passes, the sum of their objectives.</summary>
    public double Loss;
    /// <summary>Sums of the per-row losses of each objective (divide by the counts for means).</summary>
    public double MlmLossSum, NspLossSum, LabelLossSum;
    /// <summary>Counts of predictions (real masked tokens, NSP pairs, labelled rows) and of correct ones (argmax =
    /// target) per objective.</summary>
    public long MlmCount, MlmCorrect, NspCount, NspCorrect, LabelCount, LabelCorrect;
    /// <summary>Distillation: the sum of the soft-target loss T²·KL(teacher ‖ student) over the rows of its term — the labelled
    /// rows in classification, the masked positions in pretraining (mean: <see cref="SoftMlmLoss"/>) — 0 without a teacher.</summary>
    public double DistillLossSum;
    /// <summary>Distillation: α, the soft-target loss's share of the label objective (α·soft + (1 − α)·cross-entropy);
    /// 0 without a teacher. The same in every pass of a run, so sums keep it as it is.</summary>
    public double DistillWeight;
    /// <summary>Pretraining distillation: the sum over the real tokens of the cosine loss 1 − cos(student, teacher) between
    /// their last hidden states, and how many tokens it is over (both 0 without a teacher or when the widths differ).</summary>
    public double CosineLossSum;
    /// <inheritdoc cref="CosineLossSum"/>
    public long CosineCount;
    /// <summary>Pretraining distillation: the weights and temperature of the objective (null: MLM + NSP, no teacher). The same
    /// in every pass of a run, so sums keep it as it is.</summary>
    public PretrainingDistillation? PretrainingDistillation;

    /// <summary>Mean MLM loss per masked token (0 without any).</summary>
    public readonly double MlmLoss => MlmCount == 0 ? 0 : MlmLossSum / MlmCount;
    /// <summary>Mean NSP loss per pair (0 without any).</summary>
    public readonly double NspLoss => NspCount == 0 ? 0 : NspLossSum / NspCount;
    /// <summary>Fraction of masked tokens predicted right (0 without any).</summary>
    public readonly double MlmAccuracy => MlmCount == 0 ? 0 : (double)MlmCorrect / MlmCount;
    /// <summary>Fraction of NSP pairs predicted right (0 without any).</summary>
    public readonly double NspAccuracy => NspCount == 0 ? 0 : (double)NspCorrect / NspCount;
    /// <summary>exp(<see cref="MlmLoss"/>).</summary>
    public readonly double MlmPerplexity => Math.Exp(MlmLoss);
    /// <summary>Mean classification loss over the labelled rows (NaN without any).</summary>
    public readonly double LabelLoss => LabelCount == 0 ? double.NaN : LabelLossSum / LabelCount;
    /// <summary>Mean soft-target (distillation) loss over the labelled rows (NaN without any).</summary>
    public readonly double DistillLoss => LabelCount == 0 ? double.NaN : DistillLossSum / LabelCount;
    /// <summary>Pretraining distillation: mean soft-target loss per masked token (0 without any).</summary>
    public readonly double SoftMlmLoss => MlmCount == 0 ? 0 : DistillLossSum / MlmCount;
    /// <summary>Pretraining distillation: mean cosine loss per real token (0 without any).</summary>
    public readonly double CosineLoss => CosineCount == 0 ? 0 : CosineLossSum / CosineCount;
    /// <summary>Classification accuracy over the labelled rows (NaN without any).</summary>
    public readonly double LabelAccuracy => LabelCount == 0 ? double.NaN : (double)LabelCorrect / LabelCount;

    /// <summary>The objective these sums give: MLM + NSP means for pretraining figures (with a teacher, the weighted sum of
    /// <see cref="PretrainingDistillation"/>), the label mean otherwise (0 without labels). Equals <see cref="Loss"/> for one
    /// forward pass; for sums over data-parallel slices, the global batch's.</summary>
    public readonly double Objective => MlmCount > 0 || NspCount > 0 ? PretrainingObjective
        : LabelCount > 0 ? ((1 - DistillWeight) * LabelLossSum + DistillWeight * DistillLossSum) / LabelCount : 0;

    private readonly double PretrainingObjective => PretrainingDistillation is { } k
        ? k.AlphaMlm * MlmLoss + k.AlphaNsp * NspLoss + k.AlphaSoft * SoftMlmLoss + k.AlphaCos * CosineLoss
        : MlmLoss + NspLoss;

    /// <summary>Adds another pass's sums and counts (and objective).</summary>
    public void Add(in TaskMetrics o)
    {
        Loss += o.Loss;
        MlmLossSum += o.MlmLossSum; NspLossSum += o.NspLossSum; LabelLossSum += o.LabelLossSum;
        MlmCount += o.MlmCount; MlmCorrect += o.MlmCorrect; NspCount += o.NspCount; NspCorrect += o.NspCorrect;
        LabelCount += o.LabelCount; LabelCorrect += o.LabelCorrect;
        DistillLossSum += o.DistillLossSum;
        if (o.DistillWeight != 0) DistillWeight = o.DistillWeight;
        CosineLossSum += o.CosineLossSum; CosineCount += o.CosineCount;
        PretrainingDistillation ??= o.PretrainingDistillation;
    }
}
