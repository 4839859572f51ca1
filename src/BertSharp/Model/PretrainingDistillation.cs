namespace BertSharp.Model;

/// <summary>
/// Pretraining distillation (DistilBERT's recipe, Sanh et al. 2019): the objective a teacher adds to, and reweights in,
/// pretraining:
/// <c>AlphaSoft · T²·KL(softmax(t/T) ‖ softmax(s/T)) + AlphaMlm · MLM + AlphaNsp · NSP + AlphaCos · (1 − cos(h_s, h_t))</c>,
/// the soft term a mean over the masked positions (the MLM logits of teacher and student), MLM and NSP the true-label
/// cross-entropies as in plain pretraining, the cosine term a mean over the real tokens' last hidden states (only when
/// teacher and student are equally wide).
/// Defaults are DistilBERT's (alpha_ce 5, alpha_mlm 2, alpha_cos 1, T 2); DistilBERT has no NSP, ours keeps it at weight 1,
/// as in plain pretraining, so the student's pooler and NSP head train as they would without a teacher.
/// </summary>
/// <param name="Temperature">T, &gt; 0: divides both models' MLM logits in the soft term.</param>
/// <param name="AlphaSoft">Weight of the soft-target MLM term (DistilBERT's alpha_ce).</param>
/// <param name="AlphaMlm">Weight of the MLM cross-entropy with the true tokens.</param>
/// <param name="AlphaNsp">Weight of the NSP cross-entropy with the true labels.</param>
/// <param name="AlphaCos">Weight of the cosine term between the last hidden states (0 or ignored when the widths differ).</param>
public sealed record PretrainingDistillation(float Temperature = 2f, float AlphaSoft = 5f, float AlphaMlm = 2f, float AlphaNsp = 1f, float AlphaCos = 1f)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the property out of range: a temperature that is not
    /// positive and finite, a negative or non-finite weight, or every weight 0 (nothing to train on).</summary>
    public PretrainingDistillation Validate()
    {
        if (!(Temperature > 0 && float.IsFinite(Temperature)))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, $"{nameof(Temperature)} must be positive and finite, got {Temperature}");
        Weight(nameof(AlphaSoft), AlphaSoft);
        Weight(nameof(AlphaMlm), AlphaMlm);
        Weight(nameof(AlphaNsp), AlphaNsp);
        Weight(nameof(AlphaCos), AlphaCos);
        if (AlphaSoft == 0 && AlphaMlm == 0 && AlphaNsp == 0 && AlphaCos == 0)
            throw new ArgumentOutOfRangeException(nameof(AlphaSoft), AlphaSoft,
                $"{nameof(AlphaSoft)}, {nameof(AlphaMlm)}, {nameof(AlphaNsp)} and {nameof(AlphaCos)} are all 0: nothing to train on");
        return this;
    }

    private static void Weight(string name, float value)
    {
        if (!(value >= 0 && float.IsFinite(value)))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be 0 or more and finite, got {value}");
    }
}
