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
    private readonly int _batchSize, _prefetch, _maxValidationBatches;
    private readonly bool _dynamicPadding;
    private PretrainingLoader _loader;

    /// <summary>Builds both sides of <paramref name="split"/> and starts the training loader at <paramref
    /// name="start"/> (beginning of epoch 0 by default). <paramref name="dynamicPadding"/> pads each batch to its
    /// longest row rounded up to 8; <paramref name="prefetch"/> batches are kept ready ahead; evaluation uses the first
    /// <paramref name="maxValidationBatches"/> validation batches at most (cheap on large corpora). Invalid options throw
    /// <see cref="ArgumentException"/>.</summary>
    public CorpusPretrainingData(ITokenizedCorpus corpus, DocumentSplit split, PretrainingOptions options, int batchSize,
        bool dynamicPadding = false, DataPosition start = default, int prefetch = 3, int maxValidationBatches = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValidationBatches);
        _train = new PretrainingDataset(corpus, split.Train, options, "training");
        _validation = split.Validation.Length > 0
            ? new ValidationSet(new PretrainingDataset(corpus, split.Validation, options, "validation"))
            : null;
        (_batchSize, _dynamicPadding, _prefetch, _maxValidationBatches) = (batchSize, dynamicPadding, prefetch, maxValidationBatches);
        // Before any batch is allocated: a batch larger than the epoch would train nothing, and one of 10^8 rows
        // would fail to allocate rather than say why.
        if (batchSize > 0 && BatchesPerEpoch(start.Epoch) < 1)
            throw new ArgumentException($"one epoch of the training documents holds {_train.ItemCount(start.Epoch):N0} items, fewer than one batch of {batchSize:N0}",
                nameof(batchSize));
        _validationBatch = new BertBatch(batchSize, options.MaxSeqLength, options.MaxPredictionsPerSeq);
        _loader = NewLoader(start);
    }

    /// <summary>The training side's items.</summary>
    public PretrainingDataset Training => _train;
    /// <summary>The fixed validation items; null when the split has no validation documents.</summary>
    public ValidationSet? Validation => _validation;

    /// <summary>Training batches in epoch <paramref name="epoch"/> (for a schedule's step count).</summary>
    public int BatchesPerEpoch(long epoch = 0) => _train.BatchCount(epoch, _batchSize);

    /// <inheritdoc/>
    public DataPosition Position => _loader.Position;

    /// <inheritdoc/>
    public BertBatch NextTrainingBatch() => _loader.Next();

    /// <inheritdoc/>
    public void Seek(DataPosition position)
    {
        _loader.Dispose();
        _loader = NewLoader(position);
    }

    /// <summary>Validation batches: those of the validation documents, at most the constructor's maximum (the first
    /// ones).</summary>
    public int ValidationBatchCount => Math.Min(_maxValidationBatches, _validation?.BatchCount(_batchSize) ?? 0);

    /// <inheritdoc/>
    public BertBatch ValidationBatch(int index)
    {
        if (_validation == null) throw new InvalidOperationException("validation: the split holds no validation documents");
        _validation.Fill(_validationBatch, index, _dynamicPadding);
        return _validationBatch;
    }

    private PretrainingLoader NewLoader(DataPosition p) => new(_train, _batchSize, _dynamicPadding, p, _prefetch);

    /// <summary>Stops the background loader.</summary>
    public void Dispose() => _loader.Dispose();
}
