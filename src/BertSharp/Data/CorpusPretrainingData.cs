using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>
/// The trainer's data source over a tokenized corpus: training batches from a background
/// <see cref="PretrainingLoader"/> over the split's training documents, and the fixed
/// <see cref="ValidationSet"/> of its validation documents. <see cref="Seek"/> restarts the loader at a
/// saved position, so a resumed run reads the identical next batch.
/// </summary>
public sealed class CorpusPretrainingData : ITrainingData, IDisposable
{
    private readonly PretrainingDataset _train;
    private readonly ValidationSet? _validation;
    private readonly BertBatch _validationBatch;
    private readonly int _batchSize, _prefetch;
    private readonly bool _dynamicPadding;
    private PretrainingLoader _loader;

    public CorpusPretrainingData(ITokenizedCorpus corpus, DocumentSplit split, PretrainingOptions options, int batchSize,
        bool dynamicPadding = false, DataPosition start = default, int prefetch = 3)
    {
        _train = new PretrainingDataset(corpus, split.Train, options, "training");
        _validation = split.Validation.Length > 0
            ? new ValidationSet(new PretrainingDataset(corpus, split.Validation, options, "validation"))
            : null;
        (_batchSize, _dynamicPadding, _prefetch) = (batchSize, dynamicPadding, prefetch);
        _validationBatch = new BertBatch(batchSize, options.MaxSeqLength, options.MaxPredictionsPerSeq);
        _loader = NewLoader(start);
    }

    public PretrainingDataset Training => _train;
    public ValidationSet? Validation => _validation;

    /// <summary>Training batches in epoch <paramref name="epoch"/> (for a schedule's step count).</summary>
    public int BatchesPerEpoch(long epoch = 0) => _train.BatchCount(epoch, _batchSize);

    public DataPosition Position => new(_loader.Position.Epoch, _loader.Position.Index);

    public BertBatch NextTrainingBatch() => _loader.Next();

    public void Seek(DataPosition position)
    {
        _loader.Dispose();
        _loader = NewLoader(position);
    }

    public int ValidationBatchCount => _validation?.BatchCount(_batchSize) ?? 0;

    public BertBatch ValidationBatch(int index)
    {
        if (_validation == null) throw new InvalidOperationException("validation: the split holds no validation documents");
        _validation.Fill(_validationBatch, index, _dynamicPadding);
        return _validationBatch;
    }

    private PretrainingLoader NewLoader(DataPosition p)
    {
        if (p.Index > int.MaxValue) throw new ArgumentException($"data position: index {p.Index} is beyond any epoch");
        return new PretrainingLoader(_train, _batchSize, _dynamicPadding, new LoaderPosition(p.Epoch, (int)p.Index), _prefetch);
    }

    public void Dispose() => _loader.Dispose();
}
