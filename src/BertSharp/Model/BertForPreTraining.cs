using BertSharp.Data;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// BERT with its two pretraining heads, forward and backward written out (no autograd):
///   <see cref="BertModel"/> (embeddings → encoder → sequence output; pooler) → NSP head on the pooled output
///                                                   └→ gather masked positions → MLM head (tied decoder)
/// Activations live on the parameters' device in buffers allocated once per capacity shape; a step allocates
/// nothing. Gradients are accumulated into <see cref="BertParameters.Gradients"/> (zero them between updates).
/// <para>With a <see cref="Teacher"/> (pretraining distillation, <see cref="PretrainingDistillation"/>): the teacher runs in
/// eval mode on the same batch after the student; the objective becomes the weighted sum of the soft-target MLM term, the
/// true MLM and NSP terms and, when the widths match, the cosine term between the last hidden states. The teacher never
/// trains: no backward, no gradients, and its parameters are not this model's.</para>
/// </summary>
public sealed class BertForPreTraining : ITrainableModel
{
    private int _predictions = -1, _headBatch = -1, _capPred = -1, _capBatch;
    private DropoutContext _lastDropout;
    private TaskMetrics _last;
    private bool _forwarded;
    private readonly TeacherTerms? _terms;

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

    /// <summary>The teacher of pretraining distillation (run in eval mode, never trained), or null.</summary>
    public BertForPreTraining? Teacher { get; }
    /// <summary>The weights and temperature of the distilled objective; null without a <see cref="Teacher"/>.</summary>
    public PretrainingDistillation? Distillation { get; }
    /// <summary>Whether the objective has the cosine term (a teacher as wide as the student).</summary>
    public bool HasCosineTerm => _terms?.Cosine ?? false;

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

    /// <summary>
    /// A student taught by <paramref name="teacher"/> (pretraining distillation): any depth and width, the same vocabulary
    /// size, on the same device in the same precision, with parameters of its own and no teacher itself.
    /// <paramref name="distillation"/> (validated) gives the weights; DistilBERT's defaults when null.
    /// </summary>
    /// <exception cref="ArgumentException">the teacher does not fit the student (the reason named)</exception>
    /// <exception cref="ArgumentOutOfRangeException">a weight or the temperature out of range (<see cref="PretrainingDistillation.Validate"/>)</exception>
    public BertForPreTraining(BertParameters parameters, BertForPreTraining teacher, PretrainingDistillation? distillation = null) : this(parameters)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        Distillation = (distillation ?? new PretrainingDistillation()).Validate();
        if (teacher.Teacher is not null) throw new ArgumentException("teacher: a teacher with a teacher of its own", nameof(teacher));
        if (ReferenceEquals(teacher.Parameters.Values, parameters.Values))
            throw new ArgumentException("teacher: shares the student's parameters (it would train with them); give it a copy", nameof(teacher));
        if (teacher.Config.VocabSize != Config.VocabSize)
            throw new ArgumentException($"teacher: vocab_size {teacher.Config.VocabSize}, the student's {Config.VocabSize}; both must read the same vocabulary", nameof(teacher));
        if (!teacher.Device.SharesMemoryWith(Device) || teacher.Device.Precision != Device.Precision)
            throw new ArgumentException($"teacher: on {teacher.Device.Name} in {teacher.Device.Precision.Name()}, the student on {Device.Name} in {Device.Precision.Name()}; "
                + "both must run on the same device in the same precision", nameof(teacher));
        Teacher = teacher;
        _terms = new TeacherTerms(Device, Config, teacher.Config);
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
        if (Teacher is not null)
        {
            Teacher.Reserve(maxBatch, maxSeq, maxPredictions);
            _terms!.Allocate(maxBatch, maxSeq, maxPredictions);
        }
    }

    /// <summary>[B·T, H] output of the last encoder layer.</summary>
    public TensorView SequenceOutput => Bert.SequenceOutput;

    /// <summary>Forward pass over <paramref name="batch"/> (its MLM and NSP targets included, validated on the host
    /// first: <see cref="ArgumentException"/> on a malformed batch): the MLM and NSP losses and accuracy counts, and
    /// <see cref="TaskMetrics.Loss"/> = MLM mean + NSP mean. Training mode when <paramref name="dropout"/> is on; grows
    /// the buffers if the batch is larger than any before. With a <see cref="Teacher"/>: the teacher's forward too (dropout
    /// off), the soft-target and cosine sums, and <see cref="TaskMetrics.Loss"/> = the weighted objective.</summary>
    public TaskMetrics Forward(BertBatch batch, in DropoutContext dropout)
    {
        TrunkForward(batch, dropout);
        _lastDropout = dropout;
        _forwarded = true;
        var o = new TaskMetrics();
        Heads.Forward(Bert.SequenceOutput, Bert.PooledOutput, Bert.Inputs, ref o);
        if (Teacher is { } teacher)
        {
            // Eval mode whatever the student's: the teacher's targets are fixed, not noised. Only its MLM logits and last
            // hidden states are read: no losses of its own, no NSP head, no read-back.
            teacher.TrunkForward(batch, DropoutContext.Off);
            teacher.Heads.LogitsForward(teacher.Bert.SequenceOutput, teacher.Bert.Inputs);
            _terms!.Forward(this, teacher, Distillation!.Temperature, ref o);
            o.PretrainingDistillation = Distillation;
            o.Loss = o.Objective;
        }
        _last = o;
        return o;
    }

    // The trunk over the batch, and the heads' shape for it.
    private void TrunkForward(BertBatch batch, in DropoutContext dropout)
    {
        Reserve(batch.BatchSize, batch.SeqLength, batch.MaxPredictions);
        Bert.Forward(batch, predictions: true, numLabels: 0, dropout);
        if (batch.BatchSize != _headBatch || batch.MaxPredictions != _predictions)
        {
            Heads.SetShape(batch.BatchSize, batch.MaxPredictions);
            (_headBatch, _predictions) = (batch.BatchSize, batch.MaxPredictions);
        }
    }

    /// <summary>The metrics of a pass over no rows: zero, with this model's objective weights.</summary>
    public TaskMetrics EmptyPass => new() { PretrainingDistillation = Distillation };

    /// <summary>Backward of the last <see cref="Forward"/>: adds d((MLM + NSP loss)·lossScale)/dθ into the gradients (of the
    /// weighted objective with a teacher; the teacher gets none). lossScale is 1/accumulation steps when micro-batches are
    /// accumulated.</summary>
    public void Backward(float lossScale = 1f) => Backward(lossScale, _last);

    /// <inheritdoc/>
    public void Backward(float lossScale, in TaskMetrics totals)
    {
        if (!_forwarded) throw new InvalidOperationException("Backward called before Forward");
        var dSequence = Bert.BeginBackward();
        if (Teacher is not { } teacher)
        {
            Bert.Backward(Heads.Backward(Bert.PooledOutput, dSequence, lossScale, totals.MlmCount, totals.NspCount), _lastDropout);
            return;
        }
        // Each term's factor on its summed losses: weight × lossScale / the count its mean is over (the global batch's in
        // data parallel). A term of weight 0 has no backward at all (so those weights give plain pretraining bit for bit).
        var k = Distillation!;
        var terms = _terms!;
        TensorView dSoft = default;
        if (k.AlphaSoft != 0 && _last.MlmCount > 0)
            dSoft = terms.SoftBackward(this, teacher, k.Temperature, k.AlphaSoft * lossScale / totals.MlmCount);
        var dPooled = Heads.Backward(Bert.PooledOutput, dSequence, k.AlphaMlm * lossScale / totals.MlmCount,
            k.AlphaNsp * lossScale / totals.NspCount, dSoft);
        if (k.AlphaCos != 0 && terms.Cosine && _last.CosineCount > 0)
            terms.CosineBackward(this, teacher, k.AlphaCos * lossScale / totals.CosineCount, dSequence);
        Bert.Backward(dPooled, _lastDropout);
    }
}
