namespace BertSharp.Text;

/// <summary>The ids of BERT's special tokens in a given vocabulary. Vocabularies we train put them first
/// (0..4); published ones differ (bert-base-uncased: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103).</summary>
public readonly record struct SpecialTokenIds(int Pad, int Unk, int Cls, int Sep, int Mask)
{
    /// <summary>The ids of vocabularies we train: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4.</summary>
    public static SpecialTokenIds Default => new(0, 1, 2, 3, 4);

    /// <summary>True for any of the five special ids.</summary>
    public bool IsSpecial(int id) => id == Pad || id == Unk || id == Cls || id == Sep || id == Mask;
}
