namespace BertSharp.Data;

/// <summary>One tokenized, truncated example: content ids (no [CLS]/[SEP]) and its label id (−1 when unknown); for
/// distillation, the teacher's logits for it.</summary>
public sealed record LabelledExample(int[] Tokens, int Label, int OriginalTokens)
{
    /// <summary>A teacher's logits for this example, one per label (distillation's soft targets); null: none.</summary>
    public float[]? TeacherLogits { get; init; }

    /// <summary>True when the text had more tokens than were kept.</summary>
    public bool Truncated => OriginalTokens > Tokens.Length;
}
