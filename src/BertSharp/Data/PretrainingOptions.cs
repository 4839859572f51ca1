using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>
/// How pretraining items are cut and masked. Defaults are Google's <c>create_pretraining_data.py</c>
/// flags at length 128 (max_predictions_per_seq 20, masked_lm_prob 0.15, short_seq_prob 0.1).
/// </summary>
public sealed record PretrainingOptions
{
    /// <summary>Smallest supported <see cref="MaxSeqLength"/>: [CLS] A [SEP] B [SEP] with room for a few tokens.</summary>
    public const int MinSeqLength = 8;

    /// <summary>Tokens per row, [CLS] and both [SEP]s included (at least <see cref="MinSeqLength"/>).</summary>
    public int MaxSeqLength { get; init; } = 128;
    /// <summary>Most masked positions per row (P).</summary>
    public int MaxPredictionsPerSeq { get; init; } = 20;
    /// <summary>Fraction of a row's tokens to predict (rounded, at most <see cref="MaxPredictionsPerSeq"/>).</summary>
    public double MaskedLmProb { get; init; } = 0.15;
    /// <summary>Probability of cutting a shorter target length, so the model also sees short sequences.</summary>
    public double ShortSeqProb { get; init; } = 0.1;

    /// <summary>Mask all pieces of a word together (Google's <c>do_whole_word_mask</c>); needs
    /// <see cref="ContinuationPieces"/>.</summary>
    public bool WholeWordMask { get; init; }

    /// <summary>For whole-word masking: <c>ContinuationPieces[id]</c> is true when the token is a
    /// "##" piece that continues the previous word. Length = vocabulary size.</summary>
    public bool[]? ContinuationPieces { get; init; }

    /// <summary>Static (Google's fixed copies) or dynamic (fresh each epoch) masking.</summary>
    public MaskingMode Masking { get; init; } = MaskingMode.Dynamic;

    /// <summary>Number of fixed copies for static masking (Google's flag default is 10).</summary>
    public int DupeFactor { get; init; } = 10;

    /// <summary>Seed of pairs and masks: the same seed and corpus give the same items.</summary>
    public ulong Seed { get; init; } = 12345;

    /// <summary>The model's position table size; <see cref="MaxSeqLength"/> may not exceed it.</summary>
    public int MaxPositionEmbeddings { get; init; } = 512;

    /// <summary>Ids of [PAD], [UNK], [CLS], [SEP] and [MASK] in the vocabulary.</summary>
    public SpecialTokenIds SpecialTokens { get; init; } = SpecialTokenIds.Default;

    /// <summary>Throws a one-line <see cref="ArgumentException"/> naming the option and the problem.</summary>
    public void Validate(int vocabSize)
    {
        if (MaxSeqLength < MinSeqLength)
            throw new ArgumentException($"max_seq_length: {MaxSeqLength} is below the minimum of {MinSeqLength} ([CLS] A [SEP] B [SEP] leaves too few tokens)");
        if (MaxSeqLength > MaxPositionEmbeddings)
            throw new ArgumentException($"max_seq_length: {MaxSeqLength} exceeds the model's max_position_embeddings of {MaxPositionEmbeddings}");
        if (MaxPredictionsPerSeq < 1 || MaxPredictionsPerSeq > MaxSeqLength - 3)
            throw new ArgumentException($"max_predictions_per_seq: {MaxPredictionsPerSeq} must be between 1 and max_seq_length - 3 = {MaxSeqLength - 3}");
        if (!(MaskedLmProb > 0 && MaskedLmProb < 1))
            throw new ArgumentException($"masked_lm_prob: {MaskedLmProb} must be in (0, 1)");
        if (!(ShortSeqProb >= 0 && ShortSeqProb <= 1))
            throw new ArgumentException($"short_seq_prob: {ShortSeqProb} must be in [0, 1]");
        if (Masking == MaskingMode.Static && DupeFactor < 1)
            throw new ArgumentException($"dupe_factor: {DupeFactor} must be at least 1");
        var sp = SpecialTokens;
        foreach (int id in (ReadOnlySpan<int>)[sp.Pad, sp.Unk, sp.Cls, sp.Sep, sp.Mask])
            if ((uint)id >= (uint)vocabSize)
                throw new ArgumentException($"special tokens: id {id} is outside the vocabulary of {vocabSize}");
        int specials = new HashSet<int> { sp.Pad, sp.Unk, sp.Cls, sp.Sep, sp.Mask }.Count;
        if (vocabSize <= specials)
            throw new ArgumentException($"vocabulary: {vocabSize} ids are all special tokens; random replacements need at least one ordinary token");
        if (WholeWordMask && ContinuationPieces == null)
            throw new ArgumentException("whole_word_mask: needs ContinuationPieces (which ids are \"##\" pieces)");
        if (ContinuationPieces != null && ContinuationPieces.Length != vocabSize)
            throw new ArgumentException($"ContinuationPieces: length {ContinuationPieces.Length} differs from the vocabulary size {vocabSize}");
    }

    /// <summary>Which copy of the items an epoch uses: static masking cycles through DupeFactor fixed
    /// copies, dynamic masking makes a new one per epoch.</summary>
    public long CopyForEpoch(long epoch) => Masking == MaskingMode.Static ? epoch % DupeFactor : epoch;

    /// <summary>Google's count: min(max_predictions, max(1, round(len * masked_lm_prob))), len counting
    /// [CLS] and both [SEP]; Math.Round rounds half to even like Python's round.</summary>
    public int NumToPredict(int sequenceLength) =>
        Math.Min(MaxPredictionsPerSeq, Math.Max(1, (int)Math.Round(sequenceLength * MaskedLmProb)));

    /// <summary>Builds the continuation table from a vocabulary's tokens (true for tokens starting with "##").</summary>
    public static bool[] ContinuationPiecesFromVocabulary(IReadOnlyList<string> tokens)
    {
        var result = new bool[tokens.Count];
        for (int i = 0; i < result.Length; i++) result[i] = tokens[i].StartsWith("##", StringComparison.Ordinal);
        return result;
    }
}
