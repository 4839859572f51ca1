namespace BertSharp.Model;

/// <summary>Dropout settings of one forward/backward pass: off in evaluation; in training the masks come from
/// (seed, step, site, element), so the backward pass recomputes them instead of storing them.
/// <paramref name="RowOffset"/>: the first row of this batch within the global batch (a data-parallel rank's slice),
/// so that a slice draws exactly the masks its rows get in a single-process run.</summary>
public readonly record struct DropoutContext(bool Training, ulong Seed, ulong Step, int RowOffset = 0)
{
    /// <summary>The element offset of a tensor with <paramref name="elementsPerRow"/> elements per batch row.</summary>
    public long Offset(long elementsPerRow) => RowOffset * elementsPerRow;

    /// <summary>Evaluation: no dropout anywhere.</summary>
    public static DropoutContext Off => new(false, 0, 0);
    /// <summary>The dropout probability to apply: <paramref name="configured"/> in training, 0 otherwise.</summary>
    public float P(float configured) => Training ? configured : 0f;
}
