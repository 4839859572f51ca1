using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The two terms a pretraining teacher adds to its student's objective (<see cref="PretrainingDistillation"/>), forward
/// and backward on the device: the soft-target loss between the two models' MLM logits at the masked positions (both
/// heads gather the same positions of the same batch, so their rows line up; the logits include the decoder bias), weighted
/// by the masked-LM weights so that padding predictions count 0; and the cosine loss between the last hidden states of
/// every real token (weights from the attention mask), when the widths match. Buffers are allocated once per capacity.
/// </summary>
internal sealed class TeacherTerms
{
    private const int Ignore = -1;
    private readonly Device _d;
    private readonly int _vocab, _hidden;
    private readonly float[] _hostStats = new float[6];
    private int _capTokens = -1, _capPredictions = -1;
    private DeviceTensor _dSoft = null!, _softLosses = null!;        // [B·P, V], [B·P]
    private DeviceTensor _cosWeights = null!, _cosLosses = null!;    // [B·T], [B·T]
    private readonly DeviceTensor _one, _stats;                      // [1] = 1, [6]: soft then cosine statistics
    private int _m, _n;                                              // prediction slots and tokens of the last forward

    /// <summary>Whether the cosine term applies (teacher and student equally wide).</summary>
    public bool Cosine { get; }

    public TeacherTerms(Device device, BertConfig student, BertConfig teacher)
    {
        _d = device;
        _vocab = student.VocabSize;
        _hidden = student.HiddenSize;
        Cosine = student.HiddenSize == teacher.HiddenSize;
        _one = device.Allocate(DType.Float32, 1);
        device.CopyToDevice<float>([1f], _one);
        _stats = device.Allocate(DType.Float32, 6);
    }

    public void Allocate(int maxBatch, int maxSeq, int maxPredictions)
    {
        int m = maxBatch * maxPredictions, n = maxBatch * maxSeq;
        if (m > _capPredictions)
        {
            _dSoft = _d.Reallocate(_dSoft, DType.Float32, Math.Max(m, 1), _vocab);
            _softLosses = _d.Reallocate(_softLosses, DType.Float32, Math.Max(m, 1));
            _capPredictions = m;
        }
        if (n > _capTokens)
        {
            _cosWeights = _d.Reallocate(_cosWeights, DType.Float32, n);
            _cosLosses = _d.Reallocate(_cosLosses, DType.Float32, n);
            _capTokens = n;
        }
    }

    /// <summary>Both terms of the last forward pass of student and teacher: their sums and counts into <paramref name="o"/>
    /// (<see cref="TaskMetrics.DistillLossSum"/> over the masked positions, <see cref="TaskMetrics.CosineLossSum"/> and
    /// <see cref="TaskMetrics.CosineCount"/> over the real tokens). One read-back of six floats.</summary>
    public void Forward(BertForPreTraining student, BertForPreTraining teacher, float temperature, ref TaskMetrics o)
    {
        var inputs = student.Bert.Inputs;
        int m = _m = inputs.BatchSize * inputs.MaxPredictions, n = _n = inputs.BatchSize * inputs.SeqLength;
        if (m > 0)
        {
            var targets = student.Heads.MlmTargets;
            _d.SoftTargetForward(student.Heads.MlmLogits, teacher.Heads.MlmLogits, inputs.MaskedLmWeights.Prefix(m), m, _vocab, temperature,
                _softLosses.Prefix(m));
            // Over the rows with a target (the real predictions); targets stand in for the argmax, which nothing here needs.
            _d.LossStatistics(_softLosses.Prefix(m), targets, targets, Ignore, _stats.View(0, 3));
        }
        else _d.Zero(_stats.View(0, 3));
        if (Cosine)
        {
            var mask = inputs.AttentionMask.Prefix(n);
            var weights = _cosWeights.Prefix(n);
            // 1 for real tokens, 0 for padding, on the device: the mask's 0 / −1, plus one.
            _d.AttentionMask(mask, weights, -1f);
            _d.BiasAdd(weights, n, 1, _one);
            _d.CosineForward(student.SequenceOutput, teacher.SequenceOutput, weights, n, _hidden, _cosLosses.Prefix(n));
            // Over the real tokens: the mask is both "target" and "argmax", and 0 marks the padding to leave out.
            _d.LossStatistics(_cosLosses.Prefix(n), mask, mask, 0, _stats.View(3, 3));
        }
        else _d.Zero(_stats.View(3, 3));
        _d.CopyToHost<float>(_stats, _hostStats);
        o.DistillLossSum = _hostStats[0];
        o.CosineLossSum = _hostStats[3];
        o.CosineCount = (long)_hostStats[5];
    }

    /// <summary>d(scale·Σ soft losses)/d(student logits) into a buffer of its own, returned: it must be computed before the
    /// student's cross-entropy backward overwrites its logits with their gradient, and added to that gradient after.</summary>
    public TensorView SoftBackward(BertForPreTraining student, BertForPreTraining teacher, float temperature, float scale)
    {
        int m = _m;
        var dSoft = _dSoft.Prefix(m * _vocab);
        _d.SoftTargetBackward(student.Heads.MlmLogits, teacher.Heads.MlmLogits, student.Bert.Inputs.MaskedLmWeights.Prefix(m), m, _vocab,
            temperature, scale, dSoft, accumulate: false);
        return dSoft;
    }

    /// <summary>Adds d(scale·Σ cosine losses)/d(student's last hidden states) into <paramref name="dSequence"/>.</summary>
    public void CosineBackward(BertForPreTraining student, BertForPreTraining teacher, float scale, TensorView dSequence)
    {
        int n = _n;
        _d.CosineBackward(student.SequenceOutput, teacher.SequenceOutput, _cosWeights.Prefix(n), n, _hidden, scale, dSequence, accumulate: true);
    }
}
