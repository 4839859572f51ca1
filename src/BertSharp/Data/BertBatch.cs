namespace BertSharp.Data;

/// <summary>
/// The one batch type: what the trainer hands to a model, for pretraining and for classification alike,
/// in preallocated host arrays reused from batch to batch (the model copies them to its device).
/// Token arrays are row-major (BatchSize, SeqLength) with row stride <see cref="SeqLength"/> — the padded
/// length actually used, which may be shorter than <see cref="MaxSeqLength"/> (dynamic padding) — so only the
/// first BatchSize · SeqLength entries are meaningful.
/// Pretraining fills the prediction arrays, (BatchSize, MaxPredictions): padding entries have position 0, id 0,
/// weight 0 (Google's convention), so a sparse MLM head gathers only the masked positions; and the NSP labels.
/// Classification fills <see cref="Labels"/> (−1: a row without a label, left out of the loss).
/// </summary>
public sealed class BertBatch
{
    /// <param name="batchCapacity">most rows a batch holds</param>
    /// <param name="maxSeqLength">longest row</param>
    /// <param name="maxPredictions">MLM predictions per row (0 for a batch without MLM targets)</param>
    /// <param name="teacherLogitsPerRow">a teacher's logits per row (the labels; 0 for a batch without soft targets)</param>
    public BertBatch(int batchCapacity, int maxSeqLength, int maxPredictions = 0, int teacherLogitsPerRow = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSeqLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPredictions, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(teacherLogitsPerRow, 0);
        BatchCapacity = batchCapacity;
        MaxSeqLength = maxSeqLength;
        MaxPredictions = maxPredictions;
        TeacherLogitsPerRow = teacherLogitsPerRow;
        TeacherLogits = new float[batchCapacity * teacherLogitsPerRow];
        InputIds = new int[batchCapacity * maxSeqLength];
        TokenTypeIds = new int[batchCapacity * maxSeqLength];
        AttentionMask = new int[batchCapacity * maxSeqLength];
        MaskedLmPositions = new int[batchCapacity * maxPredictions];
        MaskedLmIds = new int[batchCapacity * maxPredictions];
        MaskedLmWeights = new float[batchCapacity * maxPredictions];
        NextSentenceLabels = new int[batchCapacity];
        Labels = new int[batchCapacity];
        (BatchSize, SeqLength) = (batchCapacity, maxSeqLength);
    }

    /// <summary>Rows this batch holds now (equals the capacity except for a final partial batch).</summary>
    public int BatchSize { get; private set; }

    /// <summary>Padded row length actually used (row stride of the token arrays).</summary>
    public int SeqLength { get; private set; }

    /// <summary>P: masked positions each row can hold (the stride of the MaskedLm arrays).</summary>
    public int MaxPredictions { get; }
    /// <summary>Rows the arrays hold (the largest <see cref="BatchSize"/>).</summary>
    public int BatchCapacity { get; }
    /// <summary>Longest row the arrays hold (the largest <see cref="SeqLength"/>).</summary>
    public int MaxSeqLength { get; }

    /// <summary>Token ids (after masking, for pretraining); [PAD] beyond each sequence.</summary>
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

    /// <summary>Classification labels per row; −1 leaves a row out of the loss.</summary>
    public int[] Labels { get; }

    /// <summary>L: a teacher's logits per row (the stride of <see cref="TeacherLogits"/>); 0 when the batch carries none.</summary>
    public int TeacherLogitsPerRow { get; }

    /// <summary>Distillation's soft targets: a teacher's logits per row, [BatchSize, <see cref="TeacherLogitsPerRow"/>].</summary>
    public float[] TeacherLogits { get; }

    /// <summary>A pretraining batch holding copies of the given row-major arrays ([batch, seq] tokens,
    /// [batch, predictions] MLM entries, [batch] NSP labels).</summary>
    public static BertBatch Create(int batchSize, int seqLength, int maxPredictions, ReadOnlySpan<int> inputIds,
        ReadOnlySpan<int> tokenTypeIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> maskedLmPositions,
        ReadOnlySpan<int> maskedLmIds, ReadOnlySpan<float> maskedLmWeights, ReadOnlySpan<int> nextSentenceLabels)
    {
        var b = new BertBatch(batchSize, seqLength, maxPredictions);
        int m = batchSize * maxPredictions;
        b.CopyTokens(inputIds, tokenTypeIds, attentionMask);
        Need(maskedLmPositions.Length, m, "masked_lm_positions");
        Need(maskedLmIds.Length, m, "masked_lm_ids");
        Need(maskedLmWeights.Length, m, "masked_lm_weights");
        Need(nextSentenceLabels.Length, batchSize, "next_sentence_labels");
        maskedLmPositions.CopyTo(b.MaskedLmPositions);
        maskedLmIds.CopyTo(b.MaskedLmIds);
        maskedLmWeights.CopyTo(b.MaskedLmWeights);
        nextSentenceLabels.CopyTo(b.NextSentenceLabels);
        return b;
    }

    /// <summary>A classification batch holding copies of the given row-major arrays ([batch, seq] tokens, [batch]
    /// labels; empty labels: none, −1 each).</summary>
    public static BertBatch CreateForClassification(int batchSize, int seqLength, ReadOnlySpan<int> inputIds,
        ReadOnlySpan<int> tokenTypeIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> labels)
    {
        var b = new BertBatch(batchSize, seqLength);
        b.CopyTokens(inputIds, tokenTypeIds, attentionMask);
        if (labels.IsEmpty) b.Labels.AsSpan().Fill(-1);
        else
        {
            Need(labels.Length, batchSize, "labels");
            labels.CopyTo(b.Labels);
        }
        return b;
    }

    /// <summary>Copies the three [batch, seq] token arrays in, checking their lengths.</summary>
    private void CopyTokens(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> tokenTypeIds, ReadOnlySpan<int> attentionMask)
    {
        int n = BatchSize * SeqLength;
        Need(inputIds.Length, n, "input_ids");
        Need(tokenTypeIds.Length, n, "token_type_ids");
        Need(attentionMask.Length, n, "attention_mask");
        inputIds.CopyTo(InputIds);
        tokenTypeIds.CopyTo(TokenTypeIds);
        attentionMask.CopyTo(AttentionMask);
    }

    private static void Need(int have, int need, string name)
    {
        if (have != need) throw new ArgumentException($"batch: {name} has {have} values, expected {need}");
    }

    /// <summary>Sets the rows and the padded length in use (within the capacities).</summary>
    public void SetShape(int batchSize, int seqLength)
    {
        if (batchSize < 1 || batchSize > BatchCapacity)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch: {batchSize} rows is outside 1..{BatchCapacity}");
        if (seqLength < 1 || seqLength > MaxSeqLength)
            throw new ArgumentOutOfRangeException(nameof(seqLength), $"batch: length {seqLength} is outside 1..{MaxSeqLength}");
        (BatchSize, SeqLength) = (batchSize, seqLength);
    }

    /// <summary>
    /// Makes this batch rows [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>) of
    /// <paramref name="source"/> (same padded length and predictions per row): a data-parallel rank's slice of the
    /// global batch. The capacities must hold <paramref name="count"/> rows of the source's length.
    /// </summary>
    public void CopyRowsFrom(BertBatch source, int first, int count)
    {
        if (first < 0 || count < 1 || first > source.BatchSize - count)
            throw new ArgumentOutOfRangeException(nameof(count), $"batch: rows [{first}, {first} + {count}) are outside the source's {source.BatchSize}");
        if (source.MaxPredictions != MaxPredictions)
            throw new ArgumentException($"batch: {source.MaxPredictions} predictions per row where this batch holds {MaxPredictions}");
        if (source.TeacherLogitsPerRow != TeacherLogitsPerRow)
            throw new ArgumentException($"batch: {source.TeacherLogitsPerRow} teacher logits per row where this batch holds {TeacherLogitsPerRow}");
        int t = source.SeqLength, p = MaxPredictions;
        SetShape(count, t);
        source.InputIds.AsSpan(first * t, count * t).CopyTo(InputIds);
        source.TokenTypeIds.AsSpan(first * t, count * t).CopyTo(TokenTypeIds);
        source.AttentionMask.AsSpan(first * t, count * t).CopyTo(AttentionMask);
        source.MaskedLmPositions.AsSpan(first * p, count * p).CopyTo(MaskedLmPositions);
        source.MaskedLmIds.AsSpan(first * p, count * p).CopyTo(MaskedLmIds);
        source.MaskedLmWeights.AsSpan(first * p, count * p).CopyTo(MaskedLmWeights);
        source.NextSentenceLabels.AsSpan(first, count).CopyTo(NextSentenceLabels);
        source.Labels.AsSpan(first, count).CopyTo(Labels);
        int l = TeacherLogitsPerRow;
        source.TeacherLogits.AsSpan(first * l, count * l).CopyTo(TeacherLogits);
    }

    /// <summary>
    /// Checks every value range, so that a bad batch is one clear error and not an out-of-range read deep in a
    /// kernel. <paramref name="predictions"/>: check the MLM/NSP targets; <paramref name="numLabels"/> &gt; 0: check
    /// the classification labels.
    /// </summary>
    public void Validate(int vocabSize, int typeVocabSize, int maxPositions, bool predictions, int numLabels = 0)
    {
        if (SeqLength > maxPositions)
            throw new ArgumentException($"batch: sequence length {SeqLength} exceeds max_position_embeddings {maxPositions}");
        int n = BatchSize * SeqLength, m = BatchSize * MaxPredictions;
        for (int i = 0; i < n; i++)
        {
            if ((uint)InputIds[i] >= (uint)vocabSize)
                throw new ArgumentException($"batch: input_ids[{i}] = {InputIds[i]} is outside the vocabulary (vocab_size {vocabSize})");
            if ((uint)TokenTypeIds[i] >= (uint)typeVocabSize)
                throw new ArgumentException($"batch: token_type_ids[{i}] = {TokenTypeIds[i]} is outside [0, {typeVocabSize})");
        }
        if (predictions)
        {
            for (int i = 0; i < m; i++)
            {
                if ((uint)MaskedLmPositions[i] >= (uint)SeqLength)
                    throw new ArgumentException($"batch: masked_lm_positions[{i}] = {MaskedLmPositions[i]} is outside [0, {SeqLength})");
                if (MaskedLmWeights[i] > 0 && (uint)MaskedLmIds[i] >= (uint)vocabSize)
                    throw new ArgumentException($"batch: masked_lm_ids[{i}] = {MaskedLmIds[i]} is outside the vocabulary (vocab_size {vocabSize})");
            }
            for (int i = 0; i < BatchSize; i++)
                if ((uint)NextSentenceLabels[i] > 1)
                    throw new ArgumentException($"batch: next_sentence_labels[{i}] = {NextSentenceLabels[i]} must be 0 or 1");
        }
        if (numLabels > 0)
            for (int i = 0; i < BatchSize; i++)
                if (Labels[i] < -1 || Labels[i] >= numLabels)
                    throw new ArgumentException($"batch: labels[{i}] = {Labels[i]} is outside [0, {numLabels}) (or -1 for none)");
    }
}
