namespace BertSharp.Model;

/// <summary>
/// Hinton et al. (2015)'s loss for a student classifier taught by a teacher's logits t:
/// <c>α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, label)</c>, each term a mean over the labelled rows.
/// T² keeps the soft term's gradient on the scale of the hard one whatever the temperature.
/// Defaults: T = 2 (softens a confident teacher enough to carry its sense of how sure it is — DistilBERT's choice)
/// and α = 0.5 (equal weight to teacher and labels; the labels keep the student honest where the teacher is wrong).
/// </summary>
/// <param name="Temperature">T, &gt; 0: divides both models' logits before the softmax.</param>
/// <param name="Alpha">α in [0, 1]: the soft-target term's share (1: the teacher alone; 0: the labels alone).</param>
public sealed record DistillationLoss(float Temperature = 2f, float Alpha = 0.5f)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming <see cref="Temperature"/> or <see cref="Alpha"/> when out of range.</summary>
    public DistillationLoss Validate()
    {
        if (!(Temperature > 0 && float.IsFinite(Temperature)))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, $"{nameof(Temperature)} must be positive and finite, got {Temperature}");
        if (!(Alpha >= 0 && Alpha <= 1))
            throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, $"{nameof(Alpha)} must be in [0, 1], got {Alpha}");
        return this;
    }
}
