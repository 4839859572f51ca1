using BertSharp.Data;

namespace BertSharp.Model;

/// <summary>
/// BERT with its two pretraining heads, forward and backward written out (no autograd):
///   embeddings → encoder (L post-LN blocks) → sequence output → pooler ([CLS], tanh) → NSP head
///                                                      └→ gather masked positions → MLM head (tied decoder)
/// Activations live in buffers allocated once per (batch, seq, predictions) shape; a step allocates nothing.
/// Gradients are accumulated into <see cref="BertParameters.Gradients"/> (call ZeroGradients between updates).
/// </summary>
public sealed class BertForPreTraining : ITrainableModel
{
    public const float MaskValue = -10000f;

    private readonly EncoderScratch _scratch = new();
    private int _batch = -1, _seq = -1, _pred = -1, _capBatch, _capSeq, _capPred = -1;
    private float[] _additiveMask = [], _dSequence = [];
    private DropoutContext _lastDropout;

    public BertConfig Config { get; }
    public BertParameters Parameters { get; }
    public IComputeBackend Backend { get; }
    public BertEmbeddings Embeddings { get; }
    public BertEncoder Encoder { get; }
    public BertPooler Pooler { get; }
    public BertPreTrainingHeads Heads { get; }
    /// <summary>Trains the trunk and the MLM/NSP heads (a classifier head, if the parameters have one, stays as it is).</summary>
    public ParameterGroups TrainedGroups => ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads;

    public BertForPreTraining(BertParameters parameters, IComputeBackend? backend = null)
    {
        Parameters = parameters;
        Config = parameters.Config;
        Backend = backend ?? CpuBackend.Instance;
        Embeddings = new BertEmbeddings(Config, parameters, Backend);
        Encoder = new BertEncoder(Config, parameters, Backend, _scratch);
        Pooler = new BertPooler(Config, parameters, Backend);
        Heads = new BertPreTrainingHeads(Config, parameters, Backend);
    }

    /// <summary>
    /// Sets the current shape. Buffers are allocated for a capacity (the largest batch, sequence length and
    /// predictions seen so far) and smaller shapes use their prefix, so dynamic padding, a partial last batch
    /// or a validation pass allocate nothing once the largest shape has been seen (or given to <see cref="Reserve"/>).
    /// </summary>
    public void EnsureShape(int batch, int seq, int maxPredictions)
    {
        if (batch == _batch && seq == _seq && maxPredictions == _pred) return;
        if (batch > _capBatch || seq > _capSeq || maxPredictions > _capPred)
            Reserve(Math.Max(batch, _capBatch), Math.Max(seq, _capSeq), Math.Max(maxPredictions, _capPred));
        Embeddings.SetShape(batch, seq);
        Encoder.SetShape(batch, seq);
        Pooler.SetShape(batch, seq);
        Heads.SetShape(batch, maxPredictions);
        (_batch, _seq, _pred) = (batch, seq, maxPredictions);
    }

    /// <summary>Allocates every activation buffer for shapes up to the given sizes.</summary>
    public void Reserve(int maxBatch, int maxSeq, int maxPredictions)
    {
        _scratch.Allocate(Config, maxBatch, maxSeq);
        Embeddings.Allocate(maxBatch, maxSeq);
        Encoder.Allocate(maxBatch, maxSeq);
        Pooler.Allocate(maxBatch);
        Heads.Allocate(maxBatch, maxPredictions);
        _additiveMask = new float[maxBatch * maxSeq];
        _dSequence = new float[maxBatch * maxSeq * Config.HiddenSize];
        (_capBatch, _capSeq, _capPred) = (maxBatch, maxSeq, maxPredictions);
        _batch = -1; // shapes must be set again on the new buffers
    }

    /// <summary>[B·T, H] output of the last encoder layer.</summary>
    public Span<float> SequenceOutput => Encoder.Output;

    public TaskMetrics Forward(BertBatch batch, in DropoutContext dropout)
    {
        batch.Validate(Config.VocabSize, Config.TypeVocabSize, Config.MaxPositionEmbeddings, predictions: true);
        EnsureShape(batch.BatchSize, batch.SeqLength, batch.MaxPredictions);
        _lastDropout = dropout;
        int n = batch.BatchSize * batch.SeqLength;
        var mask = _additiveMask.AsSpan(0, n);
        for (int i = 0; i < n; i++) mask[i] = batch.AttentionMask[i] != 0 ? 0f : MaskValue;
        long t = ModelProfiler.Begin();
        Embeddings.Forward(batch.InputIds.AsSpan(0, n), batch.TokenTypeIds.AsSpan(0, n), dropout);
        ModelProfiler.End(ProfileSection.EmbeddingsForward, t);
        Encoder.Forward(Embeddings.Output, mask, dropout);
        t = ModelProfiler.Begin();
        Pooler.Forward(Encoder.Output);
        ModelProfiler.End(ProfileSection.PoolerForward, t);
        var o = new TaskMetrics();
        Heads.Forward(Encoder.Output, Pooler.Output, batch, ref o);
        return o;
    }

    /// <summary>Backward of the last <see cref="Forward"/>: adds d((MLM + NSP loss)·lossScale)/dθ into the gradients.
    /// lossScale is 1/accumulation steps when micro-batches are accumulated.</summary>
    public void Backward(float lossScale = 1f)
    {
        if (_batch < 0) throw new InvalidOperationException("Backward called before Forward");
        var d = _lastDropout;
        var dSequence = _dSequence.AsSpan(0, _batch * _seq * Config.HiddenSize);
        dSequence.Clear();
        var dPooled = Heads.Backward(Encoder.Output, Pooler.Output, dSequence, lossScale);
        long t = ModelProfiler.Begin();
        Pooler.Backward(dPooled, dSequence);
        ModelProfiler.End(ProfileSection.PoolerBackward, t);
        var dEmbeddings = Encoder.Backward(dSequence, Embeddings.Output, d);
        t = ModelProfiler.Begin();
        Embeddings.Backward(dEmbeddings, d);
        ModelProfiler.End(ProfileSection.EmbeddingsBackward, t);
    }
}
