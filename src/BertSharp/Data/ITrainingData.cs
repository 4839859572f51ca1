namespace BertSharp.Data;

/// <summary>What the trainer needs from the data, for pretraining and fine-tuning alike: training micro-batches
/// in a resumable order and a fixed validation set. A batch is valid until the next call (its arrays are reused).</summary>
public interface ITrainingData
{
    /// <summary>The next training micro-batch, advancing <see cref="Position"/> (epochs roll over on their
    /// own).</summary>
    BertBatch NextTrainingBatch();
    /// <summary>The position of the next training batch.</summary>
    DataPosition Position { get; }
    /// <summary>Continue from a saved <see cref="Position"/>.</summary>
    void Seek(DataPosition position);
    /// <summary>Number of validation batches (0: no validation).</summary>
    int ValidationBatchCount { get; }
    /// <summary>Validation batch <paramref name="index"/> in [0, <see cref="ValidationBatchCount"/>): the same contents
    /// every call.</summary>
    BertBatch ValidationBatch(int index);
}
