namespace BertSharp.Data;

/// <summary>
/// One NSP pair before masking, as sentence ranges plus truncation counts (a few words instead of the
/// tokens, so a whole epoch's plan is small: 56 bytes an item). Sentence indices are positions in the
/// dataset's table of non-empty sentences (<see cref="PretrainingDataset.SentenceIndexOf"/> maps them
/// back to the corpus); ranges are half-open. The tokens are
/// A = sentences [FirstA, EndA) of DocumentA without TrimAFront leading and TrimABack trailing tokens,
/// B likewise from DocumentB.
/// </summary>
public struct PretrainingItem
{
    /// <summary>Segment A: its document, table sentences [FirstA, EndA), tokens trimmed from its front and back, and
    /// its length in tokens after trimming.</summary>
    public int DocumentA, FirstA, EndA, TrimAFront, TrimABack, LengthA;
    /// <summary>Segment B, likewise.</summary>
    public int DocumentB, FirstB, EndB, TrimBFront, TrimBBack, LengthB;

    /// <summary>Index of this item among those its (copy, DocumentA) produced: keys its masking stream.</summary>
    public int Ordinal;

    /// <summary>True when B comes from another document (NSP label 1).</summary>
    public bool IsRandomNext;

    /// <summary>True when the chunk held one segment, so B had to be random (Google's rule); the coin
    /// decided the other items.</summary>
    public bool ForcedRandom;

    /// <summary>[CLS] A [SEP] B [SEP].</summary>
    public readonly int SequenceLength => LengthA + LengthB + 3;
}
