namespace BertSharp.Data;

/// <summary>The data with at most <c>maxBatches</c> validation batches (the first ones), so evaluation stays
/// cheap on large corpora.</summary>
public sealed class CappedValidation(ITrainingData inner, int maxBatches) : ITrainingData
{
    public BertBatch NextTrainingBatch() => inner.NextTrainingBatch();
    public DataPosition Position => inner.Position;
    public void Seek(DataPosition position) => inner.Seek(position);
    public int ValidationBatchCount => Math.Min(maxBatches, inner.ValidationBatchCount);
    public BertBatch ValidationBatch(int index) => inner.ValidationBatch(index);
}
