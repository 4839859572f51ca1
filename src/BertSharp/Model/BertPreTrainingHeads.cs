using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The two pretraining heads. MLM (Google's gather): only the B·P masked positions are taken from the
/// sequence output, transformed (dense, GELU, LayerNorm) and scored against the tied word embeddings plus
/// <c>cls.predictions.bias</c>; loss = mean cross-entropy over the real (weight &gt; 0) entries. NSP: a 2-way
/// linear on the pooled output, mean cross-entropy. Losses and accuracy counts are reduced on the device and
/// read back as three floats per head.
/// </summary>
public sealed class BertPreTrainingHeads
{
    private const int Ignore = -1;
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly Device _d;
    private readonly ParameterView _word, _bias, _tw, _tb, _gamma, _beta, _nw, _nb;
    private readonly float[] _hostStats = new float[6];
    private int _batch, _m, _mlmCount;
    // MLM, [B·P] or [B·P, H] or [B·P, V]
    private DeviceTensor _rows = null!, _targets = null!, _argmax = null!;                        // Int32
    private DeviceTensor _gathered = null!, _tPre = null!, _tAct = null!, _transformed = null!;   // [B·P, H]
    private DeviceTensor _mean = null!, _rstd = null!, _lse = null!, _losses = null!;             // [B·P]
    private DeviceTensor _dTransformed = null!, _dAct = null!, _dGathered = null!;                // [B·P, H]
    private DeviceTensor _mlmLogits = null!, _ceScratch = null!;                                  // [B·P, V], partials
    // NSP, [B] or [B, 2] or [B, H]
    private DeviceTensor _nspLogits = null!, _dNsp = null!, _nspLse = null!, _nspLosses = null!, _nspArgmax = null!, _dPooled = null!;
    private TensorView _nspTargets;                                                                // the batch's NSP labels, kept for backward
    private DeviceTensor _stats = null!;                                                           // [6]: MLM then NSP statistics

    /// <summary>[B·P, V] logits of the masked positions, bias included (overwritten by their gradient in backward).</summary>
    public TensorView MlmLogits => _mlmLogits.Prefix(_m * _c.VocabSize);
    /// <summary>[B, 2].</summary>
    public TensorView NspLogits => _nspLogits.Prefix(_batch * 2);
    /// <summary>[B·P] Int32: each prediction slot's target token, −1 for padding slots (from the last forward).</summary>
    internal TensorView MlmTargets => _targets.Prefix(_m);

    internal BertPreTrainingHeads(BertConfig c, BertParameters p)
    {
        _c = c;
        _p = p;
        _d = p.Device;
        var l = p.Layout;
        _word = ParameterView.Of(l, "bert.embeddings.word_embeddings.weight"); // the decoder, tied
        _bias = ParameterView.Of(l, "cls.predictions.bias");
        _tw = ParameterView.Of(l, "cls.predictions.transform.dense.weight");
        _tb = ParameterView.Of(l, "cls.predictions.transform.dense.bias");
        _gamma = ParameterView.Of(l, "cls.predictions.transform.LayerNorm.weight");
        _beta = ParameterView.Of(l, "cls.predictions.transform.LayerNorm.bias");
        _nw = ParameterView.Of(l, "cls.seq_relationship.weight");
        _nb = ParameterView.Of(l, "cls.seq_relationship.bias");
    }

    internal void Allocate(int maxBatch, int maxPredictions)
    {
        int h = _c.HiddenSize, m = maxBatch * maxPredictions;
        _rows = _d.Reallocate(_rows, DType.Int32, m);
        _targets = _d.Reallocate(_targets, DType.Int32, m);
        _argmax = _d.Reallocate(_argmax, DType.Int32, m);
        var act = _d.ActivationType;
        _gathered = _d.Reallocate(_gathered, act, m, h);
        _tPre = _d.Reallocate(_tPre, act, m, h);
        _tAct = _d.Reallocate(_tAct, act, m, h);
        _transformed = _d.Reallocate(_transformed, act, m, h);
        _mean = _d.Reallocate(_mean, DType.Float32, m);
        _rstd = _d.Reallocate(_rstd, DType.Float32, m);
        _mlmLogits = _d.Reallocate(_mlmLogits, DType.Float32, m, _c.VocabSize);
        _ceScratch = _d.Reallocate(_ceScratch, DType.Float32, _d.BiasCrossEntropyScratch(m, _c.VocabSize));
        _lse = _d.Reallocate(_lse, DType.Float32, m);
        _losses = _d.Reallocate(_losses, DType.Float32, m);
        _dTransformed = _d.Reallocate(_dTransformed, act, m, h);
        _dAct = _d.Reallocate(_dAct, act, m, h);
        _dGathered = _d.Reallocate(_dGathered, act, m, h);
        _nspLogits = _d.Reallocate(_nspLogits, DType.Float32, maxBatch, 2);
        _nspLse = _d.Reallocate(_nspLse, DType.Float32, maxBatch);
        _nspLosses = _d.Reallocate(_nspLosses, DType.Float32, maxBatch);
        _nspArgmax = _d.Reallocate(_nspArgmax, DType.Int32, maxBatch);
        _dNsp = _d.Reallocate(_dNsp, DType.Float32, maxBatch, 2);
        _dPooled = _d.Reallocate(_dPooled, act, maxBatch, h);
        _stats ??= _d.Allocate(DType.Float32, 6);
    }

    internal void SetShape(int batch, int maxPredictions) => (_batch, _m) = (batch, batch * maxPredictions);

    /// <summary>The MLM logits of the masked positions alone, decoder bias included (<see cref="MlmLogits"/>): what a
    /// pretraining teacher gives its student. No losses, no NSP head, no read-back.</summary>
    internal void LogitsForward(TensorView sequence, DeviceBatch inputs)
    {
        if (_m == 0) return;
        DecoderForward(sequence, inputs);
        _d.BiasAdd(MlmLogits, _m, _c.VocabSize, _bias.Value(_p));
    }

    // Masked positions → targets and gathered rows → transform → tied decoder: MlmLogits without the bias.
    private void DecoderForward(TensorView sequence, DeviceBatch inputs)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m, mh = m * h;
        var p = _p;
        var rows = _rows.Prefix(m);
        var gathered = _gathered.Prefix(mh);
        var tPre = _tPre.Prefix(mh);
        var tAct = _tAct.Prefix(mh);
        var transformed = _transformed.Prefix(mh);
        _d.MaskedLmTargets(inputs.MaskedLmPositions.Prefix(m), inputs.MaskedLmIds.Prefix(m), inputs.MaskedLmWeights.Prefix(m),
            inputs.MaxPredictions, inputs.SeqLength, Ignore, rows, _targets.Prefix(m));
        _d.EmbeddingForward(rows, sequence, h, gathered, accumulate: false); // gather the masked rows
        Dense.Forward(_d, gathered, m, h, h, _tw.Product(p), _tb.Value(p), tPre);
        _d.Gelu(tPre, tAct, _c.UsesTanhGelu);
        _d.LayerNormForward(tAct, m, h, _gamma.Value(p), _beta.Value(p), _c.LayerNormEps, transformed, _mean.Prefix(m), _rstd.Prefix(m));
        // Decoder tied to the word embeddings: logits = transformed · Eᵀ.
        _d.Sgemm(false, true, m, v, h, 1f, transformed, h, _word.Product(p), h, 0f, MlmLogits, v);
    }

    /// <summary>Computes both losses and the accuracy counts into <paramref name="o"/> (one read-back of six floats).</summary>
    /// <param name="sequence">[B·T, H]</param>
    /// <param name="pooled">[B, H]</param>
    /// <param name="inputs">the batch on the device (masked positions, ids, weights, NSP labels)</param>
    /// <param name="o">receives the MLM and NSP sums, counts and <see cref="TaskMetrics.Loss"/> (fields assigned, not added)</param>
    public void Forward(TensorView sequence, TensorView pooled, DeviceBatch inputs, ref TaskMetrics o)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m, b = _batch;
        var p = _p;
        if (m > 0)
        {
            var targets = _targets.Prefix(m);
            DecoderForward(sequence, inputs);
            // + cls.predictions.bias and the cross-entropy, in one pass over the logits.
            _d.BiasCrossEntropyForward(MlmLogits, _bias.Value(p), m, v, targets, Ignore, _losses.Prefix(m), _lse.Prefix(m), _argmax.Prefix(m));
            _d.LossStatistics(_losses.Prefix(m), _argmax.Prefix(m), targets, Ignore, _stats.View(0, 3));
        }
        else _d.Zero(_stats.View(0, 3));
        var nspTargets = _nspTargets = inputs.NextSentenceLabels.Prefix(b);
        Dense.Forward(_d, pooled, b, h, 2, _nw.Product(p), _nb.Value(p), NspLogits);
        _d.CrossEntropyForward(NspLogits, b, 2, nspTargets, Ignore, _nspLosses.Prefix(b), _nspLse.Prefix(b), _nspArgmax.Prefix(b));
        _d.LossStatistics(_nspLosses.Prefix(b), _nspArgmax.Prefix(b), nspTargets, Ignore, _stats.View(3, 3));
        _d.CopyToHost<float>(_stats, _hostStats);

        _mlmCount = (int)_hostStats[2];
        o.MlmLossSum = _hostStats[0];
        o.MlmCorrect = (long)_hostStats[1];
        o.MlmCount = _mlmCount;
        o.NspLossSum = _hostStats[3];
        o.NspCorrect = (long)_hostStats[4];
        o.NspCount = b;
        o.Loss = o.MlmLoss + o.NspLoss;
    }

    /// <summary>Gradients of (MLM loss + NSP loss)·<paramref name="lossScale"/>: parameters accumulated, d(sequence)
    /// added into <paramref name="dSequence"/>, d(pooled) returned (a scratch buffer).</summary>
    /// <param name="pooled">[B, H] the pooler's output of the forward pass</param>
    /// <param name="dSequence">[B·T, H] d(sequence output), added into</param>
    /// <param name="lossScale">factor on the loss (1/accumulation steps)</param>
    /// <param name="mlmCount">masked positions the MLM mean is taken over (this batch's, or the global batch's)</param>
    /// <param name="nspCount">sequences the NSP mean is taken over</param>
    public TensorView Backward(TensorView pooled, TensorView dSequence, float lossScale, long mlmCount, long nspCount) =>
        Backward(pooled, dSequence, lossScale / mlmCount, lossScale / nspCount, default);

    /// <summary>The same with the factors on the summed losses given: d(mlmScale·Σ MLM losses + nspScale·Σ NSP losses)
    /// plus, when <paramref name="dExtraLogits"/> has a tensor, a gradient of another term with respect to the MLM logits
    /// (pretraining distillation's soft targets), added to the cross-entropy's before the decoder's backward (and its column
    /// sums to the decoder bias's gradient).</summary>
    internal TensorView Backward(TensorView pooled, TensorView dSequence, float mlmScale, float nspScale, TensorView dExtraLogits)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m, mh = m * h, b = _batch;
        var p = _p;
        if (m > 0 && _mlmCount > 0)
        {
            var dLogits = MlmLogits; // in place: the logits are not needed after this
            var dAct = _dAct.Prefix(mh);
            var dTransformed = _dTransformed.Prefix(mh);
            _d.BiasCrossEntropyBackward(dLogits, _lse.Prefix(m), _targets.Prefix(m), Ignore, m, v, mlmScale, _bias.Gradient(p), _ceScratch);
            if (dExtraLogits.Tensor is not null)
            {
                _d.Add(dLogits, dExtraLogits);
                _d.BiasBackward(dExtraLogits, m, v, _bias.Gradient(p));
            }
            _d.Sgemm(true, false, v, h, m, 1f, dLogits, v, _transformed.Prefix(mh), h, 1f, _word.Gradient(p), h);
            _d.Sgemm(false, false, m, h, v, 1f, dLogits, v, _word.Product(p), h, 0f, dTransformed, h);
            _d.LayerNormBackward(dTransformed, _tAct.Prefix(mh), _mean.Prefix(m), _rstd.Prefix(m), _gamma.Value(p), m, h, dAct,
                _gamma.Gradient(p), _beta.Gradient(p));
            _d.GeluBackward(_tPre.Prefix(mh), dAct, dAct, _c.UsesTanhGelu);
            Dense.Backward(_d, dAct, _gathered.Prefix(mh), m, h, h, _tw.Product(p), _tw.Gradient(p), _tb.Gradient(p),
                _dGathered.Prefix(mh), accumulateDx: false);
            _d.EmbeddingBackward(_rows.Prefix(m), _dGathered.Prefix(mh), h, dSequence); // scatter-add to the masked rows
        }
        var dNsp = _dNsp.Prefix(b * 2);
        var dPooled = _dPooled.Prefix(b * h);
        _d.CrossEntropyBackward(NspLogits, _nspLse.Prefix(b), _nspTargets, Ignore, b, 2, nspScale, dNsp);
        Dense.Backward(_d, dNsp, pooled, b, h, 2, _nw.Product(p), _nw.Gradient(p), _nb.Gradient(p), dPooled, accumulateDx: false);
        return dPooled;
    }
}
