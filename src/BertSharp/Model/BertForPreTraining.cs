using BertSharp.Data;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// BERT with its two pretraining heads, forward and backward written out (no autograd):
///   <see cref="BertModel"/> (embeddings → encoder → sequence output; pooler) → NSP head on the pooled output
///                                                   └→ gather masked positions → MLM head (tied decoder)
/// Activations live on the parameters' device in buffers allocated once per capacity shape; a step allocates
/// nothing. Gradients are accumulated into <see cref="BertParameters.Gradients"/> (zero them between updates).
/// </summary>
public sealed class BertForPreTraining : ITrainableModel
{
    private int _predictions = -1, _headBatch = -1, _capPred = -1, _capBatch;
    private DropoutContext _lastDropout;
    private TaskMetrics _last;
    private bool _forwarded;

    /// <summary>The model's hyper-parameters (those of <see cref="Parameters"/>).</summary>
    public BertConfig Config { get; }
    /// <summary>Parameters and gradients, shared with <see cref="Bert"/>; backward passes accumulate into the
    /// gradients.</summary>
    public BertParameters Parameters { get; }
    /// <summary>The device every buffer lives on (the parameters').</summary>
    public Device Device { get; }
    /// <summary>The trunk (embeddings, encoder, pooler).</summary>
    public BertModel Bert { get; }
    /// <summary>The MLM and NSP heads; their logits of the last forward pass are <see
    /// cref="BertPreTrainingHeads.MlmLogits"/> and <see cref="BertPreTrainingHeads.NspLogits"/>.</summary>
    public BertPreTrainingHeads Heads { get; }
    /// <summary>Trains the trunk and the MLM/NSP heads (a classifier head, if the parameters have one, stays as it is).</summary>
    public ParameterGroups TrainedGroups => ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads;

    /// <summary>A pretraining model over <paramref name="parameters"/> (not copied: training updates them in place).
    /// Buffers are allocated at the first <see cref="Forward"/> or <see cref="Reserve"/>.</summary>
    public BertForPreTraining(BertParameters parameters)
    {
        Parameters = parameters;
        Config = parameters.Config;
        Device = parameters.Device;
        Bert = new BertModel(parameters);
        Heads = new BertPreTrainingHeads(Config, parameters);
    }

    /// <summary>Allocates every activation buffer for shapes up to the given sizes.</summary>
    public void Reserve(int maxBatch, int maxSeq, int maxPredictions)
    {
        Bert.Reserve(maxBatch, maxSeq, maxPredictions);
        if (maxBatch > _capBatch || maxPredictions > _capPred)
        {
            (_capBatch, _capPred) = (Math.Max(maxBatch, _capBatch), Math.Max(maxPredictions, _capPred));
            Heads.Allocate(_capBatch, _capPred);
            _headBatch = -1;
        }
    }

    /// <summary>[B·T, H] output of the last encoder layer.</summary>
    public TensorView SequenceOutput => Bert.SequenceOutput;

    /// <summary>Forward pass over <paramref name="batch"/> (its MLM and NSP targets included, validated on the host
    /// first: <see cref="ArgumentException"/> on a malformed batch): the MLM and NSP losses and accuracy counts, and
    /// <see cref="TaskMetrics.Loss"/> = MLM mean + NSP mean. Training mode when <paramref name="dropout"/> is on; grows
    /// the buffers if the batch is larger than any before.</summary>
    public TaskMetrics Forward(BertBatch batch, in DropoutContext dropout)
    {
        Reserve(batch.BatchSize, batch.SeqLength, batch.MaxPredictions);
        Bert.Forward(batch, predictions: true, numLabels: 0, dropout);
        if (batch.BatchSize != _headBatch || batch.MaxPredictions != _predictions)
        {
            Heads.SetShape(batch.BatchSize, batch.MaxPredictions);
            (_headBatch, _predictions) = (batch.BatchSize, batch.MaxPredictions);
        }
        _lastDropout = dropout;
        _forwarded = true;
        var o = new TaskMetrics();
        Heads.Forward(Bert.SequenceOutput, Bert.PooledOutput, Bert.Inputs, ref o);
        _last = o;
        return o;
    }

    /// <summary>Backward of the last <see cref="Forward"/>: adds d((MLM + NSP loss)·lossScale)/dθ into the gradients.
    /// lossScale is 1/accumulation steps when micro-batches are accumulated.</summary>
    public void Backward(float lossScale = 1f) => Backward(lossScale, _last);

    /// <inheritdoc/>
    public void Backward(float lossScale, in TaskMetrics totals)
    {
        if (!_forwarded) throw new InvalidOperationException("Backward called before Forward");
        var dSequence = Bert.BeginBackward();
        var dPooled = Heads.Backward(Bert.PooledOutput, dSequence, lossScale, totals.MlmCount, totals.NspCount);
        Bert.Backward(dPooled, _lastDropout);
    }
}
