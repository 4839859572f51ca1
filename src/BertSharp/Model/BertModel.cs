using BertSharp.Data;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The trunk shared by every task (HF's BertModel): embeddings → encoder (L post-LN blocks) → sequence output,
/// and the pooler ([CLS], tanh) → pooled output. It copies the batch to the device, builds the additive
/// attention mask there, and runs forward and backward over its layers. Buffers are allocated for a capacity
/// (the largest batch, length and predictions seen so far, or given to <see cref="Reserve"/>), and smaller
/// shapes use their prefix, so a step allocates nothing once the largest shape has been seen.
/// </summary>
public sealed class BertModel
{
    /// <summary>Added to the attention scores of padding keys, as Google's BERT: (1 − mask)·(−10000).</summary>
    public const float MaskValue = -10000f;

    private readonly EncoderScratch _scratch = new();
    private int _batch = -1, _seq = -1, _capBatch, _capSeq, _capPred = -1;
    private DeviceTensor _additiveMask = null!; // [B, T]
    private DeviceTensor _dSequence = null!;    // [B·T, H]

    /// <summary>The model's hyper-parameters (those of <see cref="Parameters"/>).</summary>
    public BertConfig Config { get; }
    /// <summary>Parameters and gradients; <see cref="Backward"/> accumulates into the gradients.</summary>
    public BertParameters Parameters { get; }
    /// <summary>The device every buffer lives on (the parameters').</summary>
    public Device Device { get; }
    /// <summary>Token + segment + position embeddings, LayerNorm and dropout.</summary>
    public BertEmbeddings Embeddings { get; }
    /// <summary>The stack of transformer layers.</summary>
    public BertEncoder Encoder { get; }
    /// <summary>tanh(dense([CLS] row of the sequence output)).</summary>
    public BertPooler Pooler { get; }
    /// <summary>The current batch on the device.</summary>
    public DeviceBatch Inputs { get; }

    /// <summary>The trunk over <paramref name="parameters"/> (not copied). No buffer is allocated until <see
    /// cref="Reserve"/> or the first <see cref="Forward"/>.</summary>
    public BertModel(BertParameters parameters)
    {
        Parameters = parameters;
        Config = parameters.Config;
        Device = parameters.Device;
        Embeddings = new BertEmbeddings(Config, parameters);
        Encoder = new BertEncoder(Config, parameters, _scratch);
        Pooler = new BertPooler(Config, parameters);
        Inputs = new DeviceBatch(Device);
    }

    /// <summary>Batch size B of the last forward pass (−1 before the first one).</summary>
    public int BatchSize => _batch;
    /// <summary>Sequence length T of the last forward pass (−1 before the first one).</summary>
    public int SeqLength => _seq;
    /// <summary>Masked positions per row P the buffers hold (0 until a batch with predictions is reserved).</summary>
    /// <summary>[B·T, H]: the last encoder layer's output (sequence_output).</summary>
    public TensorView SequenceOutput => Encoder.Output;
    /// <summary>[B, H]: the pooler's output.</summary>
    public TensorView PooledOutput => Pooler.Output;

    /// <summary>Allocates every buffer for shapes up to the given sizes (a no-op when they already fit).</summary>
    public void Reserve(int maxBatch, int maxSeq, int maxPredictions = 0)
    {
        if (maxBatch <= _capBatch && maxSeq <= _capSeq && maxPredictions <= _capPred) return;
        if (maxBatch <= 0 || maxSeq <= 0) throw new ArgumentException($"batch {maxBatch} x {maxSeq}: sizes must be positive");
        if (maxSeq > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence length {maxSeq} exceeds max_position_embeddings {Config.MaxPositionEmbeddings}");
        (maxBatch, maxSeq, maxPredictions) = (Math.Max(maxBatch, _capBatch), Math.Max(maxSeq, _capSeq), Math.Max(maxPredictions, _capPred));
        _scratch.Allocate(Device, Config, maxBatch, maxSeq);
        Embeddings.Allocate(maxBatch, maxSeq);
        Encoder.Allocate(maxBatch, maxSeq);
        Pooler.Allocate(maxBatch);
        Inputs.Allocate(maxBatch, maxSeq, maxPredictions);
        _additiveMask = Device.Reallocate(_additiveMask, DType.Float32, maxBatch, maxSeq);
        _dSequence = Device.Reallocate(_dSequence, Device.ActivationType, maxBatch * maxSeq, Config.HiddenSize);
        (_capBatch, _capSeq, _capPred) = (maxBatch, maxSeq, maxPredictions);
        _batch = -1; // shapes must be set again on the new buffers
    }

    private void EnsureShape(int batch, int seq, int maxPredictions)
    {
        if (batch > _capBatch || seq > _capSeq || maxPredictions > _capPred) Reserve(batch, seq, maxPredictions);
        if (batch == _batch && seq == _seq) return;
        Embeddings.SetShape(batch, seq);
        Encoder.SetShape(batch, seq);
        Pooler.SetShape(batch, seq);
        (_batch, _seq) = (batch, seq);
    }

    /// <summary>
    /// Validates <paramref name="batch"/> on the host, copies it to the device and runs the trunk: afterwards
    /// <see cref="SequenceOutput"/> and <see cref="PooledOutput"/> hold this batch's outputs.
    /// <paramref name="predictions"/>: the MLM/NSP targets travel too; <paramref name="numLabels"/> &gt; 0: the labels do.
    /// </summary>
    public void Forward(BertBatch batch, bool predictions, int numLabels, in DropoutContext dropout)
    {
        batch.Validate(Config.VocabSize, Config.TypeVocabSize, Config.MaxPositionEmbeddings, predictions, numLabels);
        EnsureShape(batch.BatchSize, batch.SeqLength, predictions ? batch.MaxPredictions : 0);
        Inputs.Upload(batch, predictions, numLabels > 0);
        Parameters.RefreshProductValues();
        int n = batch.BatchSize * batch.SeqLength;
        var mask = _additiveMask.Prefix(n);
        Device.AttentionMask(Inputs.AttentionMask.Prefix(n), mask, MaskValue);
        Embeddings.Forward(Inputs.InputIds.Prefix(n), Inputs.TokenTypeIds.Prefix(n), dropout);
        Encoder.Forward(Embeddings.Output, mask, dropout);
        Pooler.Forward(Encoder.Output);
    }

    /// <summary>Zeroes and returns d(sequence_output) [B·T, H], into which a task's heads add their gradients
    /// before <see cref="Backward"/>.</summary>
    public TensorView BeginBackward()
    {
        if (_batch < 0) throw new InvalidOperationException("Backward called before Forward");
        var dSequence = _dSequence.Prefix(_batch * _seq * Config.HiddenSize);
        Device.Zero(dSequence);
        return dSequence;
    }

    /// <summary>Backward of the last <see cref="Forward"/> from d(pooled) [B, H] (overwritten) and the
    /// d(sequence_output) of <see cref="BeginBackward"/>: every trunk gradient is accumulated.</summary>
    public void Backward(TensorView dPooled, in DropoutContext dropout)
    {
        var dSequence = _dSequence.Prefix(_batch * _seq * Config.HiddenSize);
        Pooler.Backward(dPooled, dSequence);
        var dEmbeddings = Encoder.Backward(dSequence, Embeddings.Output, dropout);
        Embeddings.Backward(dEmbeddings, dropout);
    }
}
