namespace BertSharp.Data;

/// <summary>
/// Validation items fixed for the whole run — copy 0 of the validation documents, in document order,
/// the same masks every time — so validation curves compare like with like across epochs.
/// Synchronous: evaluation is rare and the caller owns the batch.
/// </summary>
public sealed class ValidationSet
{
    private readonly PretrainingItem[] _items;
    private readonly BatchWriter _writer;

    /// <summary>Plans copy 0 of <paramref name="dataset"/>'s documents (same masks every time).</summary>
    public ValidationSet(PretrainingDataset dataset)
    {
        var items = new PretrainingItem[Math.Max(16, dataset.DocumentCount * 2)];
        Count = dataset.PlanCopy(0, ref items);
        _items = items;
        _writer = new BatchWriter(dataset);
        Dataset = dataset;
    }

    /// <summary>The validation side's dataset.</summary>
    public PretrainingDataset Dataset { get; }
    /// <summary>Number of validation items (rows).</summary>
    public int Count { get; }
    /// <summary>The planned items, in order.</summary>
    public ReadOnlySpan<PretrainingItem> Items => _items.AsSpan(0, Count);

    /// <summary>Batches of <paramref name="batchSize"/> rows needed to cover every item (the last may be
    /// partial).</summary>
    public int BatchCount(int batchSize) => (Count + batchSize - 1) / batchSize;

    /// <summary>Fills batch number <paramref name="index"/> (rows index*capacity onward; the last one may be partial).</summary>
    public void Fill(BertBatch batch, int index, bool dynamicPadding = false)
    {
        int start = index * batch.BatchCapacity;
        if (index < 0 || start >= Count)
            throw new ArgumentOutOfRangeException(nameof(index), $"validation batch {index} is outside 0..{BatchCount(batch.BatchCapacity) - 1}");
        _writer.Fill(batch, _items.AsSpan(start, Math.Min(batch.BatchCapacity, Count - start)), 0, dynamicPadding);
    }
}
