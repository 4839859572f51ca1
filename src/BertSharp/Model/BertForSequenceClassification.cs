using BertSharp.Data;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// BERT for sequence classification (HF's BertForSequenceClassification), forward and backward written out:
///   <see cref="BertModel"/> (embeddings → encoder → pooler) → dropout → classifier (<c>classifier.weight/bias</c>) → logits
/// loss = mean cross-entropy over the rows whose label is not <see cref="IgnoreLabel"/> (padding rows of a partial batch);
/// with <see cref="Distillation"/> set and a batch carrying a teacher's logits, Hinton's mix of that and the soft-target loss.
/// The classifier head lives in the same flat buffer as the trunk; the pretraining heads' tensors are carried along
/// untouched (and not trained). Parameters without a classifier (<see cref="BertParameters.Labels"/> null) run only
/// the trunk (used by <c>embed</c>). Buffers are sized for a capacity, so any batch up to it allocates nothing.
/// </summary>
public sealed class BertForSequenceClassification : ITrainableModel
{
    /// <summary>Label of a row that counts in neither loss nor accuracy (padding rows, inference).</summary>
    public const int IgnoreLabel = -1;
    private readonly ParameterView _weight, _bias;
    private readonly float[] _hostStats = new float[3];
    private int _capBatch, _count;
    private bool _forwarded;
    private DropoutContext _lastDropout;
    private DeviceTensor _dropped = null!, _dDropped = null!;                      // [B, H]
    private DeviceTensor _logits = null!;                                          // [B, labels]
    private DeviceTensor _lse = null!, _losses = null!, _argmax = null!, _stats = null!; // [B], [B], [B] Int32, [3]
    private DeviceTensor _dlogits = null!;                                         // [B, labels]: d(logits) when distilling
    private DeviceTensor _softLosses = null!;                                      // [B]: T²·KL per row
    private bool _distilled;                                                       // the last forward had soft targets

    /// <summary>The model's hyper-parameters (those of <see cref="Parameters"/>).</summary>
    public BertConfig Config { get; }
    /// <summary>Parameters (trunk, pretraining heads, classifier) and gradients; backward passes accumulate into the
    /// gradients.</summary>
    public BertParameters Parameters { get; }
    /// <summary>The device every buffer lives on (the parameters').</summary>
    public Device Device { get; }
    /// <summary>The trunk (embeddings, encoder, pooler).</summary>
    public BertModel Bert { get; }
    /// <summary>Number of labels (0: no classifier head).</summary>
    public int NumLabels { get; }
    /// <summary>Distillation: a batch carrying a teacher's logits (<see cref="BertBatch.TeacherLogits"/>, one per label) is
    /// trained on this loss; null (the default) or a batch without them: cross-entropy with the labels alone.</summary>
    public DistillationLoss? Distillation { get; set; }
    /// <summary>Trains the trunk and the classifier head; the pretraining heads stay as they are.</summary>
    public ParameterGroups TrainedGroups => ParameterGroups.Encoder | ParameterGroups.Classifier;

    /// <summary>A classifier over <paramref name="parameters"/> (not copied); its labels are <see
    /// cref="BertParameters.Labels"/>. Buffers are allocated at the first <see cref="Forward"/> or <see
    /// cref="Reserve"/>.</summary>
    public BertForSequenceClassification(BertParameters parameters)
    {
        Parameters = parameters;
        Config = parameters.Config;
        Device = parameters.Device;
        Bert = new BertModel(parameters);
        NumLabels = parameters.Layout.NumLabels;
        if (NumLabels > 0)
        {
            _weight = ParameterView.Of(parameters.Layout, BertParameterLayout.ClassifierWeight);
            _bias = ParameterView.Of(parameters.Layout, BertParameterLayout.ClassifierBias);
        }
    }

    /// <summary>Batch size B of the last forward pass.</summary>
    public int BatchSize => Bert.BatchSize;
    /// <summary>Sequence length T of the last forward pass.</summary>
    public int SeqLength => Bert.SeqLength;
    /// <summary>[B·T, H]: last encoder layer.</summary>
    public TensorView SequenceOutput => Bert.SequenceOutput;
    /// <summary>[B, H]: tanh pooler output (before the classifier's dropout).</summary>
    public TensorView PooledOutput => Bert.PooledOutput;
    /// <summary>[B, labels] logits of the last forward pass.</summary>
    public TensorView Logits => _logits.Prefix(Bert.BatchSize * NumLabels);

    /// <summary>Allocates every buffer for batches up to <paramref name="maxBatch"/> × <paramref name="maxSeq"/>
    /// (a no-op when the buffers already hold that much).</summary>
    public void Reserve(int maxBatch, int maxSeq)
    {
        Bert.Reserve(maxBatch, maxSeq);
        if (maxBatch <= _capBatch || NumLabels == 0) return;
        var d = Device;
        int h = Config.HiddenSize;
        _dropped = d.Reallocate(_dropped, d.ActivationType, maxBatch, h);
        _dDropped = d.Reallocate(_dDropped, d.ActivationType, maxBatch, h);
        _logits = d.Reallocate(_logits, DType.Float32, maxBatch, NumLabels);
        _lse = d.Reallocate(_lse, DType.Float32, maxBatch);
        _losses = d.Reallocate(_losses, DType.Float32, maxBatch);
        _argmax = d.Reallocate(_argmax, DType.Int32, maxBatch);
        _stats ??= d.Allocate(DType.Float32, 3);
        _dlogits = d.Reallocate(_dlogits, DType.Float32, maxBatch, NumLabels);
        _softLosses = d.Reallocate(_softLosses, DType.Float32, maxBatch);
        _capBatch = maxBatch;
    }

    /// <summary>
    /// Forward pass over the batch's ids. Rows whose <see cref="BertBatch.Labels"/> entry is not
    /// <see cref="IgnoreLabel"/> give the loss and accuracy; with every label −1 (inference) only the logits count.
    /// </summary>
    public TaskMetrics Forward(BertBatch input, in DropoutContext dropout)
    {
        int batch = input.BatchSize;
        Reserve(batch, input.SeqLength);
        Bert.Forward(input, predictions: false, NumLabels, dropout);
        _lastDropout = dropout;
        _forwarded = true;
        _count = 0;
        var o = new TaskMetrics();
        if (NumLabels == 0) return o;

        var d = Device;
        int h = Config.HiddenSize, l = NumLabels;
        var dropped = _dropped.Prefix(batch * h);
        float p = dropout.P(Config.HiddenDropoutProb);
        if (p > 0) d.DropoutForward(Bert.PooledOutput, dropped, p, dropout.Seed, dropout.Step, DropoutSites.Classifier, dropout.Offset(h));
        else d.Copy(Bert.PooledOutput, dropped);
        var logits = Logits;
        Dense.Forward(d, dropped, batch, h, l, _weight.Product(Parameters), _bias.Value(Parameters), logits);
        var targets = Bert.Inputs.Labels.Prefix(batch);
        d.CrossEntropyForward(logits, batch, l, targets, IgnoreLabel, _losses.Prefix(batch), _lse.Prefix(batch), _argmax.Prefix(batch));
        d.LossStatistics(_losses.Prefix(batch), _argmax.Prefix(batch), targets, IgnoreLabel, _stats);
        d.CopyToHost<float>(_stats, _hostStats);
        _count = (int)_hostStats[2];
        o.LabelLossSum = _hostStats[0];
        o.LabelCorrect = (long)_hostStats[1];
        o.LabelCount = _count;
        o.Loss = _count > 0 ? o.LabelLossSum / _count : 0;
        _distilled = Distillation is not null && input.TeacherLogitsPerRow == l;
        if (_distilled) ForwardSoftTargets(input, ref o);
        return o;
    }

    /// <summary>The soft-target term of the last forward: per labelled row T²·KL(softmax(t/T) ‖ softmax(s/T)), summed on the
    /// device like the cross-entropy; the objective becomes α·soft + (1 − α)·cross-entropy.</summary>
    private void ForwardSoftTargets(BertBatch input, ref TaskMetrics o)
    {
        var d = Device;
        var k = Distillation!;
        int batch = input.BatchSize, l = NumLabels;
        var inputs = Bert.Inputs;
        inputs.UploadTeacherLogits(input);
        d.SoftTargetForward(Logits, inputs.TeacherLogits.Prefix(batch * l), inputs.LabelWeights.Prefix(batch), batch, l, k.Temperature, _softLosses.Prefix(batch));
        d.LossStatistics(_softLosses.Prefix(batch), _argmax.Prefix(batch), Bert.Inputs.Labels.Prefix(batch), IgnoreLabel, _stats);
        d.CopyToHost<float>(_stats, _hostStats);
        o.DistillLossSum = _hostStats[0];
        o.DistillWeight = k.Alpha;
        o.Loss = _count > 0 ? ((1 - k.Alpha) * o.LabelLossSum + k.Alpha * o.DistillLossSum) / _count : 0;
    }

    /// <summary>Backward of the last labelled <see cref="Forward"/>: adds d(loss·lossScale)/dθ into the trunk's and the head's gradients.</summary>
    public void Backward(float lossScale = 1f) => Backward(lossScale, new TaskMetrics { LabelCount = _count });

    /// <inheritdoc/>
    public void Backward(float lossScale, in TaskMetrics totals)
    {
        if (!_forwarded || NumLabels == 0) throw new InvalidOperationException("Backward needs a labelled Forward with a classifier head");
        if (_count == 0) return; // nothing labelled in this batch
        var d = Device;
        var dropout = _lastDropout;
        int batch = Bert.BatchSize, h = Config.HiddenSize, l = NumLabels;
        var logits = Logits;
        var labels = Bert.Inputs.Labels.Prefix(batch);
        float scale = lossScale / totals.LabelCount;
        TensorView dlogits;
        if (_distilled)
        {
            // Both terms read the logits, so d(logits) goes to its own buffer: the labels' share, then the teacher's added.
            var k = Distillation!;
            dlogits = _dlogits.Prefix(batch * l);
            d.CrossEntropyBackward(logits, _lse.Prefix(batch), labels, IgnoreLabel, batch, l, (1 - k.Alpha) * scale, dlogits);
            var inputs = Bert.Inputs;
            d.SoftTargetBackward(logits, inputs.TeacherLogits.Prefix(batch * l), inputs.LabelWeights.Prefix(batch), batch, l, k.Temperature, k.Alpha * scale, dlogits, accumulate: true);
        }
        else
        {
            d.CrossEntropyBackward(logits, _lse.Prefix(batch), labels, IgnoreLabel, batch, l, scale, logits);
            dlogits = logits;
        }
        var dDropped = _dDropped.Prefix(batch * h);
        var p = Parameters;
        Dense.Backward(d, dlogits, _dropped.Prefix(batch * h), batch, h, l, _weight.Product(p), _weight.Gradient(p), _bias.Gradient(p), dDropped, accumulateDx: false);
        float rate = dropout.P(Config.HiddenDropoutProb);
        if (rate > 0) d.DropoutBackward(dDropped, dDropped, rate, dropout.Seed, dropout.Step, DropoutSites.Classifier, dropout.Offset(h));
        Bert.BeginBackward();
        Bert.Backward(dDropped, dropout);
    }
}
