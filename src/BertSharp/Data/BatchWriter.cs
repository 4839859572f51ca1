namespace BertSharp.Data;

/// <summary>
/// Writes planned items into a <see cref="BertBatch"/>: tokens, segment ids, padding, and
/// Google's masked-LM predictions. Owns its scratch buffers, so one writer per thread; nothing is
/// allocated per batch.
/// </summary>
public sealed class BatchWriter
{
    private readonly PretrainingDataset _dataset;
    private readonly PretrainingOptions _options;
    private readonly bool[] _isSpecial;      // id -> special token (never masked, never a random replacement)
    private readonly bool[]? _continuation;  // id -> "##" piece, for whole-word masking
    private readonly int[] _scratch;         // one sentence
    private readonly int[] _groupStart, _groupLength; // masking candidates: whole words or single tokens
    private readonly int[] _chosen;          // positions to predict

    /// <summary>A writer for items of <paramref name="dataset"/> (its options decide masking); allocates its scratch
    /// once.</summary>
    public BatchWriter(PretrainingDataset dataset)
    {
        _dataset = dataset;
        _options = dataset.Options;
        int vocab = dataset.Corpus.VocabSize;
        _isSpecial = new bool[vocab];
        var sp = _options.SpecialTokens;
        foreach (int id in (ReadOnlySpan<int>)[sp.Pad, sp.Unk, sp.Cls, sp.Sep, sp.Mask]) _isSpecial[id] = true;
        _continuation = _options.WholeWordMask ? _options.ContinuationPieces : null;
        _scratch = new int[Math.Max(1, dataset.MaxSentenceLength)];
        _groupStart = new int[_options.MaxSeqLength];
        _groupLength = new int[_options.MaxSeqLength];
        _chosen = new int[_options.MaxPredictionsPerSeq];
    }

    /// <summary>
    /// Fills <paramref name="batch"/> with <paramref name="items"/> (at most its capacity) of copy
    /// <paramref name="copy"/>. With <paramref name="dynamicPadding"/> rows are padded to the longest
    /// sequence rounded up to a multiple of 8 (at most MaxSeqLength), else to MaxSeqLength.
    /// </summary>
    public void Fill(BertBatch batch, ReadOnlySpan<PretrainingItem> items, long copy, bool dynamicPadding)
    {
        if (items.Length > batch.BatchCapacity)
            throw new ArgumentException($"batch: {items.Length} items exceed the capacity of {batch.BatchCapacity}");
        if (batch.MaxSeqLength < _options.MaxSeqLength || batch.MaxPredictions != _options.MaxPredictionsPerSeq)
            throw new ArgumentException($"batch: sized for length {batch.MaxSeqLength} and {batch.MaxPredictions} predictions, options need {_options.MaxSeqLength} and {_options.MaxPredictionsPerSeq}");
        int seqLength = _options.MaxSeqLength;
        if (dynamicPadding)
        {
            int longest = 0;
            foreach (ref readonly var item in items) longest = Math.Max(longest, item.SequenceLength);
            seqLength = Math.Min(_options.MaxSeqLength, (longest + 7) & ~7);
        }
        batch.SetShape(items.Length, seqLength);
        int maxPred = _options.MaxPredictionsPerSeq;
        for (int b = 0; b < items.Length; b++)
        {
            WriteRow(items[b], copy,
                batch.InputIds.AsSpan(b * seqLength, seqLength),
                batch.TokenTypeIds.AsSpan(b * seqLength, seqLength),
                batch.AttentionMask.AsSpan(b * seqLength, seqLength),
                batch.MaskedLmPositions.AsSpan(b * maxPred, maxPred),
                batch.MaskedLmIds.AsSpan(b * maxPred, maxPred),
                batch.MaskedLmWeights.AsSpan(b * maxPred, maxPred));
            batch.NextSentenceLabels[b] = items[b].IsRandomNext ? 1 : 0;
        }
    }

    /// <summary>[CLS] A [SEP] B [SEP], segment ids 0/1, padding, then the masked-LM predictions.</summary>
    internal void WriteRow(in PretrainingItem item, long copy, Span<int> ids, Span<int> types, Span<int> mask,
        Span<int> positions, Span<int> labels, Span<float> weights)
    {
        var sp = _options.SpecialTokens;
        int lenA = item.LengthA, lenB = item.LengthB, n = lenA + lenB + 3;
        ids[0] = sp.Cls;
        _dataset.CopyTokens(item.DocumentA, item.FirstA, item.TrimAFront, ids.Slice(1, lenA), _scratch);
        ids[lenA + 1] = sp.Sep;
        _dataset.CopyTokens(item.DocumentB, item.FirstB, item.TrimBFront, ids.Slice(lenA + 2, lenB), _scratch);
        ids[n - 1] = sp.Sep;
        ids[n..].Clear();
        types[..(lenA + 2)].Clear();
        types[(lenA + 2)..n].Fill(1);
        types[n..].Clear();
        mask[..n].Fill(1);
        mask[n..].Clear();

        var rng = DataRng.Create(DataRng.TagMask, _options.Seed, (ulong)copy, (ulong)item.DocumentA, (ulong)item.Ordinal);
        int chosen = ChooseMaskedPositions(ids[..n], ref rng);
        // Google sorts the predictions by position.
        var pos = _chosen.AsSpan(0, chosen);
        pos.Sort();
        int vocab = _isSpecial.Length;
        for (int k = 0; k < chosen; k++)
        {
            int p = pos[k];
            int original = ids[p];
            positions[k] = p;
            labels[k] = original;
            weights[k] = 1f;
            // 80% [MASK], 10% unchanged, 10% a random ordinary token (Google draws from the whole
            // vocabulary, specials included; we never insert a special token).
            if (rng.NextDouble() < 0.8) ids[p] = sp.Mask;
            else if (rng.NextDouble() >= 0.5)
            {
                int t;
                do t = rng.NextInt(vocab); while (_isSpecial[t]);
                ids[p] = t;
            }
        }
        positions[chosen..].Clear();
        labels[chosen..].Clear();
        weights[chosen..].Clear();
    }

    /// <summary>
    /// Google's candidate selection: every non-special position is a candidate (whole-word mode groups
    /// a "##" piece with the piece before it when both are in the same segment); candidates are visited
    /// in random order and taken until num_to_predict positions are chosen, skipping a word that would
    /// overshoot. A partial Fisher–Yates shuffle gives the same distribution as Google's full shuffle.
    /// </summary>
    private int ChooseMaskedPositions(ReadOnlySpan<int> ids, ref DataRng rng)
    {
        int groups = 0;
        var special = _isSpecial;
        var continuation = _continuation;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (special[id]) continue;
            if (continuation != null && continuation[id] && groups > 0
                && _groupStart[groups - 1] + _groupLength[groups - 1] == i)
            {
                _groupLength[groups - 1]++;
                continue;
            }
            _groupStart[groups] = i;
            _groupLength[groups] = 1;
            groups++;
        }

        int numToPredict = _options.NumToPredict(ids.Length);
        int chosen = 0;
        for (int g = 0; g < groups && chosen < numToPredict; g++)
        {
            int r = g + rng.NextInt(groups - g);
            (_groupStart[g], _groupStart[r]) = (_groupStart[r], _groupStart[g]);
            (_groupLength[g], _groupLength[r]) = (_groupLength[r], _groupLength[g]);
            int len = _groupLength[g];
            if (chosen + len > numToPredict) continue;
            int start = _groupStart[g];
            for (int k = 0; k < len; k++) _chosen[chosen++] = start + k;
        }
        return chosen;
    }
}
