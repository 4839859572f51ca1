using BertSharp.Tensors;
using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>
/// The trainer's data for sequence classification: epochs over labelled examples, each in a fresh seeded order, in
/// batches padded to their longest member; optionally grouped by length (HF's <c>group_by_length</c>). The position
/// (epoch, batches consumed) is resumable. The validation batches are the evaluation examples longest first, so
/// batches hold texts of similar length and little padding (a text's scores do not depend on its batch: padded keys
/// get exactly zero attention).
/// </summary>
public sealed class ClassificationTrainingData : ITrainingData
{
    private readonly IReadOnlyList<LabelledExample> _train, _validation;
    private readonly ClassificationBatcher _trainBatcher, _validationBatcher;
    private readonly int _batchSize, _evalBatchSize, _lengthGroupBatches;
    private readonly ulong _seed;
    private readonly bool _groupByLength;
    private readonly int[] _order, _byLength;
    private int[] _starts = [];
    private long _epoch, _index, _orderEpoch = -1;

    /// <param name="vocab">for [CLS], [SEP] and [PAD]</param>
    /// <param name="train">training examples</param>
    /// <param name="validation">evaluation examples</param>
    /// <param name="batchSize">training rows per batch</param>
    /// <param name="evalBatchSize">validation rows per batch</param>
    /// <param name="maxLength">longest row ([CLS] and [SEP] included)</param>
    /// <param name="seed">seed of the epoch orders</param>
    /// <param name="groupByLength">cut each epoch's order into groups of <paramref name="lengthGroupBatches"/> batches, sort
    /// each group longest first, and visit the full batches in a seeded random order</param>
    /// <param name="lengthGroupBatches">batches per length-sorted group (HF uses 50)</param>
    public ClassificationTrainingData(Vocabulary vocab, IReadOnlyList<LabelledExample> train, IReadOnlyList<LabelledExample> validation,
        int batchSize, int evalBatchSize, int maxLength, ulong seed, bool groupByLength = false, int lengthGroupBatches = 50)
    {
        if (train.Count == 0) throw new ArgumentException("fine-tuning: no training examples");
        if (batchSize < 1 || evalBatchSize < 1) throw new ArgumentException($"batch sizes must be >= 1, got {batchSize} and {evalBatchSize}");
        if (lengthGroupBatches < 1) throw new ArgumentException($"length group must hold at least 1 batch, got {lengthGroupBatches}");
        (_train, _validation, _batchSize, _evalBatchSize, _seed) = (train, validation, batchSize, evalBatchSize, seed);
        (_groupByLength, _lengthGroupBatches) = (groupByLength, lengthGroupBatches);
        // Soft targets travel with the training batches when the examples carry a teacher's logits (distillation);
        // validation is scored on the labels alone.
        _trainBatcher = new ClassificationBatcher(vocab, batchSize, maxLength, train[0].TeacherLogits?.Length ?? 0);
        _validationBatcher = new ClassificationBatcher(vocab, evalBatchSize, maxLength);
        _order = new int[train.Count];
        _byLength = new int[validation.Count];
        for (int i = 0; i < _byLength.Length; i++) _byLength[i] = i;
        SortLongestFirst(validation, _byLength, new long[_byLength.Length]);
        BatchesPerEpoch = (train.Count + batchSize - 1) / batchSize;
    }

    /// <summary>Training batches (= updates without accumulation) per epoch; the last may be partial.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>Validation examples in the order the validation batches hold them (longest first).</summary>
    public ReadOnlySpan<int> ValidationOrder => _byLength;

    /// <summary>Epochs completed and batches consumed in the current one.</summary>
    public DataPosition Position => new(_epoch, _index);

    /// <inheritdoc/>
    public void Seek(DataPosition position) => (_epoch, _index) = (position.Epoch, Math.Max(0, position.Index));

    /// <inheritdoc/>
    public BertBatch NextTrainingBatch()
    {
        if (_index >= BatchesPerEpoch) (_epoch, _index) = (_epoch + 1, 0);
        if (_orderEpoch != _epoch)
        {
            _starts = EpochOrder((int)_epoch + 1, _order); // epochs are numbered from 1 in the seeded order
            _orderEpoch = _epoch;
        }
        int start = _starts[_index++];
        int count = Math.Min(_batchSize, _order.Length - start);
        _trainBatcher.Fill(_train, _order.AsSpan(start, count));
        return _trainBatcher.Batch;
    }

    /// <inheritdoc/>
    public int ValidationBatchCount => (_validation.Count + _evalBatchSize - 1) / _evalBatchSize;

    /// <inheritdoc/>
    public BertBatch ValidationBatch(int index)
    {
        int start = index * _evalBatchSize, count = Math.Min(_evalBatchSize, _validation.Count - start);
        _validationBatcher.Fill(_validation, _byLength.AsSpan(start, count));
        return _validationBatcher.Batch;
    }

    /// <summary>
    /// Fills <paramref name="order"/> with epoch <paramref name="epoch"/>'s (from 1) seeded permutation of the training
    /// texts and returns where each batch starts in it, in the order the batches are visited. Without length grouping the
    /// batches are consecutive slices; with it, each group of batches is sorted longest first (ties by shuffled
    /// position) and the batch order is shuffled again, so long and short batches are spread over the epoch.
    /// </summary>
    public int[] EpochOrder(int epoch, int[] order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var rng = new SplitMix64(_seed ^ (0x9E3779B97F4A7C15UL * (ulong)epoch));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        int batches = (order.Length + _batchSize - 1) / _batchSize;
        var starts = new int[batches];
        for (int k = 0; k < batches; k++) starts[k] = k * _batchSize;
        if (!_groupByLength) return starts;

        int group = _lengthGroupBatches * _batchSize;
        var keys = new long[Math.Min(group, order.Length)];
        for (int g = 0; g < order.Length; g += group)
            SortLongestFirst(_train, order.AsSpan(g, Math.Min(group, order.Length - g)), keys);
        // Only whole batches move, so the final short batch stays the one at the end of the order.
        int full = order.Length / _batchSize;
        for (int i = full - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (starts[i], starts[j]) = (starts[j], starts[i]);
        }
        return starts;
    }

    /// <summary>Sorts texts (indices into <paramref name="examples"/>) longest first, ties in their current order:
    /// the key is a total order, so the result is deterministic. <paramref name="keys"/>: scratch, at least as long.</summary>
    public static void SortLongestFirst(IReadOnlyList<LabelledExample> examples, Span<int> texts, long[] keys)
    {
        for (int i = 0; i < texts.Length; i++) keys[i] = ((long)(int.MaxValue - examples[texts[i]].Tokens.Length) << 32) | (uint)i;
        keys.AsSpan(0, texts.Length).Sort(texts);
    }
}
