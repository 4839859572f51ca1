namespace BertSharp.Model;

/// <summary>
/// BERT with its two pretraining heads, forward and backward written out (no autograd):
///   embeddings → encoder (L post-LN blocks) → sequence output → pooler ([CLS], tanh) → NSP head
///                                                      └→ gather masked positions → MLM head (tied decoder)
/// Activations live in buffers allocated once per (batch, seq, predictions) shape; a step allocates nothing.
/// Gradients are accumulated into <see cref="BertParameters.Gradients"/> (call ZeroGradients between updates).
/// </summary>
public sealed class BertForPreTraining
{
    public const float MaskValue = -10000f;

    private readonly EncoderScratch _scratch = new();
    private int _batch = -1, _seq = -1, _pred = -1;
    private float[] _additiveMask = [], _dSequence = [];
    private DropoutContext _lastDropout;

    public BertConfig Config { get; }
    public BertParameters Parameters { get; }
    public IComputeBackend Backend { get; }
    public BertEmbeddings Embeddings { get; }
    public BertEncoder Encoder { get; }
    public BertPooler Pooler { get; }
    public BertPreTrainingHeads Heads { get; }

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

    /// <summary>(Re)allocates every activation buffer when the shape changes; a no-op otherwise.</summary>
    public void EnsureShape(int batch, int seq, int maxPredictions)
    {
        if (batch == _batch && seq == _seq && maxPredictions == _pred) return;
        _scratch.Allocate(Config, batch, seq);
        Embeddings.Allocate(batch, seq);
        Encoder.Allocate(batch, seq);
        Pooler.Allocate(batch, seq);
        Heads.Allocate(batch, maxPredictions);
        _additiveMask = new float[batch * seq];
        _dSequence = new float[batch * seq * Config.HiddenSize];
        (_batch, _seq, _pred) = (batch, seq, maxPredictions);
    }

    /// <summary>[B·T, H] output of the last encoder layer.</summary>
    public float[] SequenceOutput => Encoder.Output;

    public BertOutputs Forward(in BertBatch batch, in DropoutContext dropout)
    {
        batch.Validate(Config);
        EnsureShape(batch.BatchSize, batch.SeqLength, batch.MaxPredictions);
        _lastDropout = dropout;
        for (int i = 0; i < _additiveMask.Length; i++) _additiveMask[i] = batch.AttentionMask[i] != 0 ? 0f : MaskValue;
        long t = ModelProfiler.Begin();
        Embeddings.Forward(batch.InputIds, batch.TokenTypeIds, dropout);
        ModelProfiler.End(ProfileSection.EmbeddingsForward, t);
        Encoder.Forward(Embeddings.Output, _additiveMask, dropout);
        t = ModelProfiler.Begin();
        Pooler.Forward(Encoder.Output);
        ModelProfiler.End(ProfileSection.PoolerForward, t);
        var o = new BertOutputs();
        Heads.Forward(Encoder.Output, Pooler.Output, batch, ref o);
        return o;
    }

    /// <summary>Backward of the last <see cref="Forward"/>: adds d((MLM + NSP loss)·lossScale)/dθ into the gradients.
    /// lossScale is 1/accumulation steps when micro-batches are accumulated.</summary>
    public void Backward(float lossScale = 1f)
    {
        if (_batch < 0) throw new InvalidOperationException("Backward called before Forward");
        var d = _lastDropout;
        Array.Clear(_dSequence);
        float[] dPooled = Heads.Backward(Encoder.Output, Pooler.Output, _dSequence, lossScale);
        long t = ModelProfiler.Begin();
        Pooler.Backward(dPooled, _dSequence);
        ModelProfiler.End(ProfileSection.PoolerBackward, t);
        float[] dEmbeddings = Encoder.Backward(_dSequence, Embeddings.Output, d);
        t = ModelProfiler.Begin();
        Embeddings.Backward(dEmbeddings, d);
        ModelProfiler.End(ProfileSection.EmbeddingsBackward, t);
    }
}
