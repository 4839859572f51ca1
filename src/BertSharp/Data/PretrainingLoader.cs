namespace BertSharp.Data;

/// <summary>
/// Training batches made ahead by one background thread into a small ring of reused
/// <see cref="BertBatch"/> objects, so the trainer only waits when the producer falls behind.
/// Epoch e uses copy <see cref="PretrainingOptions.CopyForEpoch"/>(e) of the items, in an order shuffled
/// by (seed, e); batches never straddle two epochs.
/// </summary>
public sealed class PretrainingLoader : IDisposable
{
    private readonly PretrainingDataset _dataset;
    private readonly int _batchSize;
    private readonly bool _dynamicPadding, _dropLast;
    private readonly BertBatch[] _ring;
    private readonly DataPosition[] _ringEnd; // position after each ring batch
    private readonly SemaphoreSlim _free, _ready;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private Exception? _failure;
    private int _consumerSlot;
    private bool _holding; // the consumer holds _ring[_consumerSlot] until its next call
    private bool _disposed;

    /// <summary>Starts the background thread that writes batches of <paramref name="dataset"/> ahead of the trainer.</summary>
    /// <param name="dataset">the items to batch</param>
    /// <param name="batchSize">rows per batch</param>
    /// <param name="dynamicPadding">pad each batch to its longest sequence rounded up to a multiple of 8</param>
    /// <param name="start">where to begin (a saved <see cref="Position"/> to resume): the next batch starts at item
    /// <see cref="DataPosition.Index"/> of epoch <see cref="DataPosition.Epoch"/>'s shuffled order</param>
    /// <param name="prefetch">batches kept ready ahead of the trainer</param>
    /// <param name="dropLast">drop an epoch's final partial batch (as the input function of Google's BERT does)</param>
    public PretrainingLoader(PretrainingDataset dataset, int batchSize, bool dynamicPadding = false,
        DataPosition start = default, int prefetch = 3, bool dropLast = true)
    {
        if (batchSize < 1) throw new ArgumentException($"batch size: {batchSize} must be at least 1");
        if (prefetch < 1) throw new ArgumentException($"prefetch: {prefetch} must be at least 1");
        if (start.Epoch < 0 || start.Index < 0) throw new ArgumentException($"loader position: {start} is negative");
        if (start.Index > int.MaxValue) throw new ArgumentException($"data position: index {start.Index} is beyond any epoch");
        _dataset = dataset;
        _batchSize = batchSize;
        _dynamicPadding = dynamicPadding;
        _dropLast = dropLast;
        var o = dataset.Options;
        // prefetch ready batches plus the one the consumer holds.
        _ring = new BertBatch[prefetch + 1];
        for (int i = 0; i < _ring.Length; i++) _ring[i] = new BertBatch(batchSize, o.MaxSeqLength, o.MaxPredictionsPerSeq);
        _ringEnd = new DataPosition[_ring.Length];
        _free = new SemaphoreSlim(prefetch, _ring.Length);
        _ready = new SemaphoreSlim(0, _ring.Length);
        Position = start;
        _thread = new Thread(() => Produce(start.Epoch, (int)start.Index)) { IsBackground = true, Name = "BertSharp pretraining batches" };
        _thread.Start();
    }

    /// <summary>Where the batch after the last one returned starts (or the start, before any): what the trainer saves
    /// with a checkpoint (<see cref="ITrainingData.Position"/>).</summary>
    public DataPosition Position { get; private set; }

    /// <summary>The next batch; valid until the following call (its arrays are reused).</summary>
    public BertBatch Next()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_holding)
        {
            _consumerSlot = (_consumerSlot + 1) % _ring.Length;
            _free.Release();
        }
        try { _ready.Wait(_stop.Token); }
        catch (OperationCanceledException) { }
        if (Volatile.Read(ref _failure) is { } failure)
            throw new InvalidOperationException($"pretraining loader: the batch producer failed: {failure.Message}", failure);
        _holding = true;
        Position = _ringEnd[_consumerSlot];
        return _ring[_consumerSlot];
    }

    private void Produce(long epoch, int index)
    {
        try
        {
            var writer = new BatchWriter(_dataset);
            var items = new PretrainingItem[1024];
            int[] order = [];
            var batchItems = new PretrainingItem[_batchSize];
            long plannedEpoch = -1;
            int count = 0, slot = 0;
            var token = _stop.Token;
            while (!token.IsCancellationRequested)
            {
                if (plannedEpoch != epoch)
                {
                    count = _dataset.PlanCopy(_dataset.Options.CopyForEpoch(epoch), ref items);
                    if (order.Length < count) order = new int[items.Length];
                    PretrainingDataset.ShuffledOrder(_dataset.Options.Seed, epoch, order.AsSpan(0, count));
                    plannedEpoch = epoch;
                    if (_dropLast && count < _batchSize)
                        throw new InvalidOperationException($"batch size {_batchSize} exceeds the {count} items of epoch {epoch}");
                }
                int left = count - index;
                if (left <= 0 || (_dropLast && left < _batchSize))
                {
                    (epoch, index) = (epoch + 1, 0);
                    continue;
                }
                int n = Math.Min(_batchSize, left);
                for (int k = 0; k < n; k++) batchItems[k] = items[order[index + k]];
                _free.Wait(token);
                writer.Fill(_ring[slot], batchItems.AsSpan(0, n), _dataset.Options.CopyForEpoch(epoch), _dynamicPadding);
                index += n;
                _ringEnd[slot] = new DataPosition(epoch, index);
                slot = (slot + 1) % _ring.Length;
                _ready.Release();
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            Volatile.Write(ref _failure, e);
            _stop.Cancel(); // wakes a consumer blocked in Next()
        }
    }

    /// <summary>Stops the background thread and waits for it to end.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
        _free.Dispose();
        _ready.Dispose();
    }
}
