using BertSharp.Data;

namespace BertSharp.Model;

/// <summary>
/// BERT for sequence classification (HF's BertForSequenceClassification), forward and backward written out:
///   embeddings → encoder → pooler ([CLS], tanh) → dropout → classifier (linear, <c>classifier.weight/bias</c>) → logits
/// loss = mean cross-entropy over the rows whose label is not <see cref="IgnoreLabel"/> (padding rows of a partial batch).
/// The encoder and pooler are the pretraining model's layers over the same <see cref="BertParameters"/>; the
/// pretraining heads' tensors are carried along untouched (and not trained). The classifier head,
/// <c>classifier.weight</c> [labels, H] and <c>classifier.bias</c>, lives in the same flat buffer; parameters without
/// one (<see cref="BertParameters.Labels"/> null) run only the encoder and pooler (used by <c>embed</c>). Buffers are sized for a capacity, so any batch up to it allocates nothing.
/// </summary>
public sealed class BertForSequenceClassification : ITrainableModel
{
    public const int IgnoreLabel = -1;
    /// <summary>Dropout site of the pooled output (the encoder uses 0 and 1 + 3·layer + k).</summary>
    public const uint ClassifierDropoutSite = 0x4000_0000;

    private readonly EncoderScratch _scratch = new();
    private int _batch = -1, _seq = -1, _capBatch, _capSeq;
    private float[] _additiveMask = [], _dSequence = [], _dropped = [], _dDropped = [], _logits = [], _lse = [], _losses = [];
    private int[] _targets = [], _argmax = [];
    private int _count;
    private DropoutContext _lastDropout;

    public BertConfig Config { get; }
    public BertParameters Parameters { get; }
    /// <summary>Number of labels (0: no classifier head).</summary>
    public int NumLabels { get; }
    /// <summary>Trains the trunk and the classifier head; the pretraining heads stay as they are.</summary>
    public ParameterGroups TrainedGroups => ParameterGroups.Encoder | ParameterGroups.Classifier;
    public IComputeBackend Backend { get; }
    public BertEmbeddings Embeddings { get; }
    public BertEncoder Encoder { get; }
    public BertPooler Pooler { get; }

    private readonly int _w, _b;

    public BertForSequenceClassification(BertParameters parameters, IComputeBackend? backend = null)
    {
        Parameters = parameters;
        Config = parameters.Config;
        NumLabels = parameters.Layout.NumLabels;
        if (NumLabels > 0)
        {
            _w = parameters.Layout[BertParameterLayout.ClassifierWeight].Offset;
            _b = parameters.Layout[BertParameterLayout.ClassifierBias].Offset;
        }
        Backend = backend ?? CpuBackend.Instance;
        Embeddings = new BertEmbeddings(Config, parameters, Backend);
        Encoder = new BertEncoder(Config, parameters, Backend, _scratch);
        Pooler = new BertPooler(Config, parameters, Backend);
    }

    public int BatchSize => _batch;
    public int SeqLength => _seq;
    /// <summary>[B·T, H]: last encoder layer.</summary>
    public Span<float> SequenceOutput => Encoder.Output;
    /// <summary>[B, H]: tanh pooler output (before the classifier's dropout).</summary>
    public Span<float> PooledOutput => Pooler.Output;
    /// <summary>[B, labels] logits of the last forward pass.</summary>
    public Span<float> Logits => _logits.AsSpan(0, _batch * NumLabels);

    /// <summary>Allocates every buffer for batches up to <paramref name="maxBatch"/> × <paramref name="maxSeq"/>
    /// (a no-op when the buffers already hold that much).</summary>
    public void Reserve(int maxBatch, int maxSeq)
    {
        if (maxBatch <= _capBatch && maxSeq <= _capSeq) return;
        if (maxBatch <= 0 || maxSeq <= 0) throw new ArgumentException($"batch {maxBatch} x {maxSeq}: sizes must be positive");
        if (maxSeq > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence length {maxSeq} exceeds max_position_embeddings {Config.MaxPositionEmbeddings}");
        int h = Config.HiddenSize, l = NumLabels;
        _scratch.Allocate(Config, maxBatch, maxSeq);
        Embeddings.Allocate(maxBatch, maxSeq);
        Encoder.Allocate(maxBatch, maxSeq);
        Pooler.Allocate(maxBatch);
        _additiveMask = new float[maxBatch * maxSeq];
        _dSequence = new float[maxBatch * maxSeq * h];
        _dropped = new float[maxBatch * h];
        _dDropped = new float[maxBatch * h];
        _logits = new float[maxBatch * l];
        _lse = new float[maxBatch];
        _losses = new float[maxBatch];
        _targets = new int[maxBatch];
        _argmax = new int[maxBatch];
        (_capBatch, _capSeq) = (maxBatch, maxSeq);
        _batch = -1;
    }

    private void EnsureShape(int batch, int seq)
    {
        if (batch == _batch && seq == _seq) return;
        if (batch > _capBatch || seq > _capSeq) Reserve(Math.Max(batch, _capBatch), Math.Max(seq, _capSeq));
        Embeddings.SetShape(batch, seq);
        Encoder.SetShape(batch, seq);
        Pooler.SetShape(batch, seq);
        (_batch, _seq) = (batch, seq);
    }

    /// <summary>
    /// Forward pass over the batch's ids. Rows whose <see cref="BertBatch.Labels"/> entry is not
    /// <see cref="IgnoreLabel"/> give the loss and accuracy; with every label −1 (inference) only the logits are computed.
    /// </summary>
    public TaskMetrics Forward(BertBatch input, in DropoutContext dropout)
    {
        int batch = input.BatchSize, seq = input.SeqLength;
        input.Validate(Config.VocabSize, Config.TypeVocabSize, Config.MaxPositionEmbeddings, predictions: false, NumLabels);
        EnsureShape(batch, seq);
        _lastDropout = dropout;
        int n = batch * seq, h = Config.HiddenSize;
        var mask = _additiveMask.AsSpan(0, n);
        var attention = input.AttentionMask.AsSpan(0, n);
        for (int i = 0; i < n; i++) mask[i] = attention[i] != 0 ? 0f : BertForPreTraining.MaskValue;
        Embeddings.Forward(input.InputIds.AsSpan(0, n), input.TokenTypeIds.AsSpan(0, n), dropout);
        Encoder.Forward(Embeddings.Output, mask, dropout);
        Pooler.Forward(Encoder.Output);
        var o = new TaskMetrics();
        _count = 0;
        if (NumLabels == 0) return o;

        int l = NumLabels;
        var dropped = _dropped.AsSpan(0, batch * h);
        float p = dropout.P(Config.HiddenDropoutProb);
        if (p > 0) Backend.DropoutForward(Pooler.Output, dropped, p, dropout.Seed, dropout.Step, ClassifierDropoutSite);
        else Pooler.Output.CopyTo(dropped);
        var logits = _logits.AsSpan(0, batch * l);
        Dense.Forward(Backend, dropped, batch, h, l, Parameters.Values.AsSpan(_w, l * h), Parameters.Values.AsSpan(_b, l), logits);
        var targets = _targets.AsSpan(0, batch);
        input.Labels.AsSpan(0, batch).CopyTo(targets);
        bool any = false;
        foreach (int y in targets) any |= y != IgnoreLabel;
        if (!any) return o;
        Backend.CrossEntropyForward(logits, batch, l, targets, IgnoreLabel, _losses.AsSpan(0, batch), _lse.AsSpan(0, batch), _argmax.AsSpan(0, batch));
        double loss = 0;
        int correct = 0;
        _count = 0;
        for (int i = 0; i < batch; i++)
        {
            if (targets[i] == IgnoreLabel) continue;
            _count++;
            loss += _losses[i];
            if (_argmax[i] == targets[i]) correct++;
        }
        o.Loss = _count > 0 ? loss / _count : 0;
        o.LabelLossSum = loss;
        o.LabelCorrect = correct;
        o.LabelCount = _count;
        return o;
    }

    /// <summary>Backward of the last labelled <see cref="Forward"/>: adds d(loss·lossScale)/dθ into the encoder's and the head's gradients.</summary>
    public void Backward(float lossScale = 1f)
    {
        if (_batch < 0 || NumLabels == 0) throw new InvalidOperationException("Backward needs a labelled Forward with a classifier head");
        if (_count == 0) return; // nothing labelled in this batch
        var d = _lastDropout;
        int batch = _batch, h = Config.HiddenSize, l = NumLabels;
        var logits = _logits.AsSpan(0, batch * l);
        Backend.CrossEntropyBackward(logits, _lse.AsSpan(0, batch), _targets.AsSpan(0, batch), IgnoreLabel, batch, l, lossScale / _count, logits);
        var dDropped = _dDropped.AsSpan(0, batch * h);
        Dense.Backward(Backend, logits, _dropped.AsSpan(0, batch * h), batch, h, l, Parameters.Values.AsSpan(_w, l * h),
            Parameters.Gradients.AsSpan(_w, l * h), Parameters.Gradients.AsSpan(_b, l), dDropped, accumulateDx: false);
        float p = d.P(Config.HiddenDropoutProb);
        if (p > 0) Backend.DropoutBackward(dDropped, dDropped, p, d.Seed, d.Step, ClassifierDropoutSite);
        var dSequence = _dSequence.AsSpan(0, batch * _seq * h);
        dSequence.Clear();
        Pooler.Backward(dDropped, dSequence);
        var dEmbeddings = Encoder.Backward(dSequence, Embeddings.Output, d);
        Embeddings.Backward(dEmbeddings, d);
    }
}
