using BertSharp.Tensors;

namespace BertSharp.Data;

/// <summary>
/// Deterministic synthetic pretraining data with structure a model can learn: the non-special ids form
/// topics of 4; each segment draws its tokens from one topic, so a masked token is one of 4 given the rest
/// of its segment (MLM loss can fall from ln V towards ln 4); topics are drawn with skewed frequencies;
/// segment B keeps A's topic (IsNext, label 0) or takes another one (label 1).
/// Batch i of epoch e is a pure function of (seed, e, i), so positions resume exactly. For tests and benchmarks.
/// </summary>
public sealed class SyntheticPretrainingData : ITrainingData
{
    private const int Cls = 2, Sep = 3, MaskId = 4, FirstWord = 5;
    private readonly int _vocab, _batch, _seq, _pred, _batchesPerEpoch, _validationBatches;
    private readonly ulong _seed;
    private readonly BertBatch _b;
    private readonly int[] _ids, _types, _mask, _positions, _labels, _nsp;
    private readonly float[] _weights;
    private readonly int[] _scratch;
    private long _epoch, _index;

    /// <summary>Batches of <paramref name="batchSize"/> rows of exactly <paramref name="seqLength"/> tokens with
    /// <paramref name="maxPredictions"/> masked positions each; <paramref name="batchesPerEpoch"/> per epoch and
    /// <paramref name="validationBatches"/> for validation. Throws <see cref="ArgumentException"/> when the vocabulary
    /// has fewer than 13 ids or rows are shorter than 8.</summary>
    public SyntheticPretrainingData(int vocabSize, int batchSize, int seqLength, int maxPredictions, ulong seed,
        int batchesPerEpoch = 1000, int validationBatches = 2)
    {
        if (vocabSize < FirstWord + 8) throw new ArgumentException($"synthetic data: vocab_size {vocabSize} is too small (need >= {FirstWord + 8})");
        if (seqLength < 8) throw new ArgumentException($"synthetic data: sequence length {seqLength} is too short (need >= 8)");
        (_vocab, _batch, _seq, _pred, _seed) = (vocabSize, batchSize, seqLength, maxPredictions, seed);
        _batchesPerEpoch = batchesPerEpoch;
        _validationBatches = validationBatches;
        _b = new BertBatch(batchSize, seqLength, maxPredictions);
        (_ids, _types, _mask, _nsp) = (_b.InputIds, _b.TokenTypeIds, _b.AttentionMask, _b.NextSentenceLabels);
        (_positions, _labels, _weights) = (_b.MaskedLmPositions, _b.MaskedLmIds, _b.MaskedLmWeights);
        _scratch = new int[seqLength];
    }

    /// <inheritdoc/>
    public DataPosition Position => new(_epoch, _index);
    /// <inheritdoc/>
    public void Seek(DataPosition position) => (_epoch, _index) = (position.Epoch, position.Index);
    /// <inheritdoc/>
    public int ValidationBatchCount => _validationBatches;

    /// <inheritdoc/>
    public BertBatch NextTrainingBatch()
    {
        Fill(_epoch, _index);
        if (++_index == _batchesPerEpoch) (_epoch, _index) = (_epoch + 1, 0);
        return _b;
    }

    /// <summary>Validation batches use epoch −1, which training never reaches.</summary>
    public BertBatch ValidationBatch(int index) { Fill(-1, index); return _b; }


    private void Fill(long epoch, long index)
    {
        var rng = new SplitMix64(_seed ^ ((ulong)(epoch + 1) * 0x9E3779B97F4A7C15UL) ^ ((ulong)index * 0xD1B54A32D192ED03UL));
        int topics = (_vocab - FirstWord) / 4;
        Array.Clear(_ids);
        Array.Clear(_types);
        Array.Clear(_mask);
        for (int b = 0; b < _batch; b++)
        {
            int row = b * _seq;
            int len = _seq - rng.NextInt(_seq / 4 + 1);                 // some padding
            int lenA = 2 + rng.NextInt(len - 5);                        // tokens of A
            bool isNext = rng.NextInt(2) == 0;
            // Skewed topic frequencies (like words in text), so that unigram statistics are learnable too.
            double u = rng.NextDouble();
            int topic = (int)(topics * u * u);
            int topicB = isNext ? topic : (topic + 1 + rng.NextInt(topics - 1)) % topics;
            int p = 0;
            _ids[row + p++] = Cls;
            for (int i = 0; i < lenA; i++) _ids[row + p++] = FirstWord + 4 * topic + rng.NextInt(4);
            _ids[row + p++] = Sep;
            int firstB = p;
            while (p < len - 1) _ids[row + p++] = FirstWord + 4 * topicB + rng.NextInt(4);
            _ids[row + p++] = Sep;
            for (int i = 0; i < len; i++) _mask[row + i] = 1;
            for (int i = firstB; i < len; i++) _types[row + i] = 1;
            _nsp[b] = isNext ? 0 : 1;

            // Mask ~15% of the non-special positions (at least 1, at most _pred), ascending.
            int candidates = 0;
            for (int i = 1; i < len - 1; i++) if (_ids[row + i] != Sep) _scratch[candidates++] = i;
            int count = Math.Min(_pred, Math.Max(1, (int)Math.Round(len * 0.15)));
            for (int i = 0; i < count; i++) // partial Fisher-Yates
            {
                int j = i + rng.NextInt(candidates - i);
                (_scratch[i], _scratch[j]) = (_scratch[j], _scratch[i]);
            }
            Array.Sort(_scratch, 0, count);
            for (int k = 0; k < _pred; k++)
            {
                int o = b * _pred + k;
                if (k < count)
                {
                    int pos = _scratch[k];
                    _positions[o] = pos;
                    _labels[o] = _ids[row + pos];
                    _weights[o] = 1f;
                    _ids[row + pos] = MaskId;
                }
                else (_positions[o], _labels[o], _weights[o]) = (0, 0, 0f);
            }
        }
    }
}
