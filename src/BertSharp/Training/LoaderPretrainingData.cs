using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>
/// The trainer's data from the pretraining-items pipeline: training batches from a background
/// <see cref="PretrainingLoader"/> (resumable by position) and a fixed <see cref="ValidationSet"/>.
/// </summary>
public sealed class LoaderPretrainingData : IPretrainingData, IDisposable
{
    private readonly PretrainingDataset _train;
    private readonly ValidationSet? _validation;
    private readonly int _batchSize, _validationBatches;
    private readonly bool _dynamicPadding;
    private readonly PretrainingBatch _validationBatch;
    private PretrainingLoader _loader;

    /// <param name="maxValidationBatches">evaluate on at most this many validation batches (the first ones)</param>
    public LoaderPretrainingData(PretrainingDataset train, ValidationSet? validation, int batchSize,
        bool dynamicPadding = false, int maxValidationBatches = int.MaxValue, DataPosition start = default)
    {
        _train = train;
        _validation = validation;
        _batchSize = batchSize;
        _dynamicPadding = dynamicPadding;
        _validationBatches = validation is null ? 0 : Math.Min(maxValidationBatches, validation.BatchCount(batchSize));
        var o = train.Options;
        _validationBatch = new PretrainingBatch(batchSize, o.MaxSeqLength, o.MaxPredictionsPerSeq);
        _loader = NewLoader(start);
    }

    private PretrainingLoader NewLoader(DataPosition p)
    {
        if (p.Index > int.MaxValue) throw new ArgumentException($"data position: index {p.Index} is out of range");
        return new PretrainingLoader(_train, _batchSize, _dynamicPadding, new LoaderPosition(p.Epoch, (int)p.Index));
    }

    public BertBatch NextTrainingBatch() => _loader.Next().AsBertBatch();

    public DataPosition Position => new(_loader.Position.Epoch, _loader.Position.Index);

    public void Seek(DataPosition position)
    {
        if (position == Position) return;
        _loader.Dispose();
        _loader = NewLoader(position);
    }

    public int ValidationBatchCount => _validationBatches;

    public BertBatch ValidationBatch(int index)
    {
        if (_validation is null || (uint)index >= (uint)_validationBatches)
            throw new ArgumentOutOfRangeException(nameof(index), $"validation batch {index} is outside 0..{_validationBatches - 1}");
        _validation.Fill(_validationBatch, index, _dynamicPadding);
        return _validationBatch.AsBertBatch();
    }

    public void Dispose() => _loader.Dispose();
}

public static class PretrainingBatchExtensions
{
    /// <summary>The model's view of a batch: the meaningful prefix of each array (rows × current length).</summary>
    public static BertBatch AsBertBatch(this PretrainingBatch b)
    {
        int n = b.BatchSize * b.SeqLength, m = b.BatchSize * b.MaxPredictions;
        return new BertBatch(b.BatchSize, b.SeqLength, b.MaxPredictions,
            b.InputIds.AsSpan(0, n), b.TokenTypeIds.AsSpan(0, n), b.AttentionMask.AsSpan(0, n),
            b.MaskedLmPositions.AsSpan(0, m), b.MaskedLmIds.AsSpan(0, m), b.MaskedLmWeights.AsSpan(0, m),
            b.NextSentenceLabels.AsSpan(0, b.BatchSize));
    }
}
