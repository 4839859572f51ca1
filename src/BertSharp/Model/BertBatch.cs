namespace BertSharp.Model;

/// <summary>
/// One pretraining batch as the model reads it (the arrays of <c>Data/PretrainingBatch</c>, row-major):
/// <c>InputIds</c>, <c>TokenTypeIds</c>, <c>AttentionMask</c> are [BatchSize, SeqLength];
/// <c>MaskedLmPositions</c>, <c>MaskedLmIds</c>, <c>MaskedLmWeights</c> are [BatchSize, MaxPredictions]
/// (weight 0 marks a padding entry); <c>NextSentenceLabels</c> is [BatchSize] (0 = IsNext, 1 = random).
/// </summary>
public readonly ref struct BertBatch
{
    public readonly int BatchSize, SeqLength, MaxPredictions;
    public readonly ReadOnlySpan<int> InputIds, TokenTypeIds, AttentionMask;
    public readonly ReadOnlySpan<int> MaskedLmPositions, MaskedLmIds;
    public readonly ReadOnlySpan<float> MaskedLmWeights;
    public readonly ReadOnlySpan<int> NextSentenceLabels;

    public BertBatch(int batchSize, int seqLength, int maxPredictions,
        ReadOnlySpan<int> inputIds, ReadOnlySpan<int> tokenTypeIds, ReadOnlySpan<int> attentionMask,
        ReadOnlySpan<int> maskedLmPositions, ReadOnlySpan<int> maskedLmIds, ReadOnlySpan<float> maskedLmWeights,
        ReadOnlySpan<int> nextSentenceLabels)
    {
        BatchSize = batchSize;
        SeqLength = seqLength;
        MaxPredictions = maxPredictions;
        InputIds = inputIds;
        TokenTypeIds = tokenTypeIds;
        AttentionMask = attentionMask;
        MaskedLmPositions = maskedLmPositions;
        MaskedLmIds = maskedLmIds;
        MaskedLmWeights = maskedLmWeights;
        NextSentenceLabels = nextSentenceLabels;
    }

    /// <summary>Checks every length and value range, so that a bad batch is one clear error and not an
    /// out-of-range read deep in a kernel.</summary>
    public void Validate(BertConfig config)
    {
        if (BatchSize <= 0 || SeqLength <= 0 || MaxPredictions < 0)
            throw new ArgumentException($"batch: sizes must be positive (batch {BatchSize}, seq {SeqLength}, predictions {MaxPredictions})");
        if (SeqLength > config.MaxPositionEmbeddings)
            throw new ArgumentException($"batch: sequence length {SeqLength} exceeds max_position_embeddings {config.MaxPositionEmbeddings}");
        int n = BatchSize * SeqLength, m = BatchSize * MaxPredictions;
        Need(InputIds.Length, n, "input_ids");
        Need(TokenTypeIds.Length, n, "token_type_ids");
        Need(AttentionMask.Length, n, "attention_mask");
        Need(MaskedLmPositions.Length, m, "masked_lm_positions");
        Need(MaskedLmIds.Length, m, "masked_lm_ids");
        Need(MaskedLmWeights.Length, m, "masked_lm_weights");
        Need(NextSentenceLabels.Length, BatchSize, "next_sentence_labels");
        for (int i = 0; i < n; i++)
        {
            if ((uint)InputIds[i] >= (uint)config.VocabSize)
                throw new ArgumentException($"batch: input_ids[{i}] = {InputIds[i]} is outside the vocabulary (vocab_size {config.VocabSize})");
            if ((uint)TokenTypeIds[i] >= (uint)config.TypeVocabSize)
                throw new ArgumentException($"batch: token_type_ids[{i}] = {TokenTypeIds[i]} is outside [0, {config.TypeVocabSize})");
        }
        for (int i = 0; i < m; i++)
        {
            if ((uint)MaskedLmPositions[i] >= (uint)SeqLength)
                throw new ArgumentException($"batch: masked_lm_positions[{i}] = {MaskedLmPositions[i]} is outside [0, {SeqLength})");
            if (MaskedLmWeights[i] > 0 && (uint)MaskedLmIds[i] >= (uint)config.VocabSize)
                throw new ArgumentException($"batch: masked_lm_ids[{i}] = {MaskedLmIds[i]} is outside the vocabulary (vocab_size {config.VocabSize})");
        }
        for (int i = 0; i < BatchSize; i++)
            if ((uint)NextSentenceLabels[i] > 1)
                throw new ArgumentException($"batch: next_sentence_labels[{i}] = {NextSentenceLabels[i]} must be 0 or 1");
    }

    private static void Need(int have, int need, string name)
    {
        if (have != need) throw new ArgumentException($"batch: {name} has {have} values, expected {need}");
    }
}

/// <summary>Dropout settings of one forward/backward pass: off in evaluation; in training the masks come from
/// (seed, step, site), so the backward pass recomputes them instead of storing them.</summary>
public readonly record struct DropoutContext(bool Training, ulong Seed, ulong Step)
{
    public static DropoutContext Off => new(false, 0, 0);
    public float P(float configured) => Training ? configured : 0f;
}
