namespace BertSharp.Data;

/// <summary>
/// One batch as the model consumes it, in preallocated arrays reused from batch to batch.
/// Token arrays are row-major (BatchSize, SeqLength) with row stride <see cref="SeqLength"/> — the padded
/// length actually used, which is MaxSeqLength or, with dynamic padding, the batch's longest sequence
/// rounded up to a multiple of 8 — so only the first BatchSize * SeqLength entries are meaningful.
/// Prediction arrays are (BatchSize, MaxPredictions): padding entries have position 0, id 0, weight 0
/// (Google's convention), so a sparse MLM head gathers only the masked positions.
/// </summary>
public sealed class PretrainingBatch
{
    public PretrainingBatch(int batchCapacity, int maxSeqLength, int maxPredictions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSeqLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPredictions, 1);
        BatchCapacity = batchCapacity;
        MaxSeqLength = maxSeqLength;
        MaxPredictions = maxPredictions;
        InputIds = new int[batchCapacity * maxSeqLength];
        TokenTypeIds = new int[batchCapacity * maxSeqLength];
        AttentionMask = new int[batchCapacity * maxSeqLength];
        MaskedLmPositions = new int[batchCapacity * maxPredictions];
        MaskedLmIds = new int[batchCapacity * maxPredictions];
        MaskedLmWeights = new float[batchCapacity * maxPredictions];
        NextSentenceLabels = new int[batchCapacity];
    }

    /// <summary>Rows this batch holds now (equals the capacity except for a final partial batch).</summary>
    public int BatchSize { get; internal set; }

    /// <summary>Padded row length actually used (row stride of the token arrays).</summary>
    public int SeqLength { get; internal set; }

    public int MaxPredictions { get; }
    public int BatchCapacity { get; }
    public int MaxSeqLength { get; }

    /// <summary>Token ids after masking; [PAD] beyond each sequence.</summary>
    public int[] InputIds { get; }

    /// <summary>0 for [CLS] A [SEP], 1 for B [SEP], 0 for padding.</summary>
    public int[] TokenTypeIds { get; }

    /// <summary>1 for real tokens, 0 for padding.</summary>
    public int[] AttentionMask { get; }

    /// <summary>Masked positions within the row, ascending; 0 for padding entries.</summary>
    public int[] MaskedLmPositions { get; }

    /// <summary>The original ids at the masked positions (the MLM targets); 0 for padding entries.</summary>
    public int[] MaskedLmIds { get; }

    /// <summary>1.0 for a real prediction, 0.0 for padding entries.</summary>
    public float[] MaskedLmWeights { get; }

    /// <summary>Google's convention: 0 = B is the real next segment (IsNext), 1 = B is from a random document.</summary>
    public int[] NextSentenceLabels { get; }

    /// <summary>Copies everything meaningful from another batch of the same capacities.</summary>
    public void CopyFrom(PretrainingBatch other)
    {
        if (other.BatchCapacity != BatchCapacity || other.MaxSeqLength != MaxSeqLength || other.MaxPredictions != MaxPredictions)
            throw new ArgumentException("batch: capacities differ", nameof(other));
        BatchSize = other.BatchSize;
        SeqLength = other.SeqLength;
        int tokens = BatchSize * SeqLength, preds = BatchSize * MaxPredictions;
        other.InputIds.AsSpan(0, tokens).CopyTo(InputIds);
        other.TokenTypeIds.AsSpan(0, tokens).CopyTo(TokenTypeIds);
        other.AttentionMask.AsSpan(0, tokens).CopyTo(AttentionMask);
        other.MaskedLmPositions.AsSpan(0, preds).CopyTo(MaskedLmPositions);
        other.MaskedLmIds.AsSpan(0, preds).CopyTo(MaskedLmIds);
        other.MaskedLmWeights.AsSpan(0, preds).CopyTo(MaskedLmWeights);
        other.NextSentenceLabels.AsSpan(0, BatchSize).CopyTo(NextSentenceLabels);
    }
}
