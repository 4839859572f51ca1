namespace BertSharp.Model;


/// <summary>Dropout settings of one forward/backward pass: off in evaluation; in training the masks come from
/// (seed, step, site), so the backward pass recomputes them instead of storing them.</summary>
public readonly record struct DropoutContext(bool Training, ulong Seed, ulong Step)
{
    /// <summary>Evaluation: no dropout anywhere.</summary>
    public static DropoutContext Off => new(false, 0, 0);
    /// <summary>The dropout probability to apply: <paramref name="configured"/> in training, 0 otherwise.</summary>
    public float P(float configured) => Training ? configured : 0f;
}
