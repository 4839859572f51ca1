namespace BertSharp.Data;

/// <summary>The data with at most <c>maxBatches</c> validation batches (the first ones), so evaluation stays
/// cheap on large corpora.</summary>
public sealed class CappedValidation(ITrainingData inner, int maxBatches) : ITrainingData
{
    /// <inheritdoc/>
    public BertBatch NextTrainingBatch() => inner.NextTrainingBatch();
    /// <inheritdoc/>
    public DataPosition Position => inner.Position;
    /// <inheritdoc/>
    public void Seek(DataPosition position) => inner.Seek(position);
    /// <inheritdoc/>
    public int ValidationBatchCount => Math.Min(maxBatches, inner.ValidationBatchCount);
    /// <inheritdoc/>
    public BertBatch ValidationBatch(int index) => inner.ValidationBatch(index);
}
