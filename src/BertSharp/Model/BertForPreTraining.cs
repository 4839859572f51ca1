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
    private bool _forwarded;

    public BertConfig Config { get; }
    public BertParameters Parameters { get; }
    public Device Device { get; }
    /// <summary>The trunk (embeddings, encoder, pooler).</summary>
    public BertModel Bert { get; }
    public BertPreTrainingHeads Heads { get; }
    /// <summary>Trains the trunk and the MLM/NSP heads (a classifier head, if the parameters have one, stays as it is).</summary>
    public ParameterGroups TrainedGroups => ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads;

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
        return o;
    }

    /// <summary>Backward of the last <see cref="Forward"/>: adds d((MLM + NSP loss)·lossScale)/dθ into the gradients.
    /// lossScale is 1/accumulation steps when micro-batches are accumulated.</summary>
    public void Backward(float lossScale = 1f)
    {
        if (!_forwarded) throw new InvalidOperationException("Backward called before Forward");
        var dSequence = Bert.BeginBackward();
        var dPooled = Heads.Backward(Bert.PooledOutput, dSequence, lossScale);
        Bert.Backward(dPooled, _lastDropout);
    }
}
