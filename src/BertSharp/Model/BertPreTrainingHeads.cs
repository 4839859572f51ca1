using BertSharp.Data;

namespace BertSharp.Model;

/// <summary>pooled = tanh(dense(hidden state of [CLS])).</summary>
public sealed class BertPooler
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;
    private readonly int _w, _b;
    private int _batch;
    private int[] _clsRows = [];
    private float[] _cls = [], _dCls = [], _output = [];

    /// <summary>[B, H] (current shape).</summary>
    public Span<float> Output => _output.AsSpan(0, _batch * _c.HiddenSize);

    public BertPooler(BertConfig c, BertParameters p, IComputeBackend be)
    {
        _c = c;
        _p = p;
        _be = be;
        _w = p.Layout["bert.pooler.dense.weight"].Offset;
        _b = p.Layout["bert.pooler.dense.bias"].Offset;
    }

    public void Allocate(int maxBatch)
    {
        _clsRows = new int[maxBatch];
        _cls = new float[maxBatch * _c.HiddenSize];
        _dCls = new float[maxBatch * _c.HiddenSize];
        _output = new float[maxBatch * _c.HiddenSize];
    }

    public void SetShape(int batch, int seq)
    {
        _batch = batch;
        for (int b = 0; b < batch; b++) _clsRows[b] = b * seq;
    }

    public void Forward(ReadOnlySpan<float> sequence)
    {
        int h = _c.HiddenSize;
        var output = Output;
        _be.EmbeddingForward(_clsRows.AsSpan(0, _batch), sequence, h, _cls, accumulate: false); // gather row 0 of each sequence
        Dense.Forward(_be, _cls, _batch, h, h, _p.Values.AsSpan(_w, h * h), _p.Values.AsSpan(_b, h), output);
        _be.Tanh(output, output);
    }

    /// <summary><paramref name="dOutput"/> is overwritten; d(sequence) is added into the [CLS] rows of <paramref name="dSequence"/>.</summary>
    public void Backward(Span<float> dOutput, Span<float> dSequence)
    {
        int h = _c.HiddenSize;
        dOutput = dOutput[..(_batch * h)];
        _be.TanhBackward(Output, dOutput, dOutput);
        Dense.Backward(_be, dOutput, _cls, _batch, h, h, _p.Values.AsSpan(_w, h * h), _p.Gradients.AsSpan(_w, h * h),
            _p.Gradients.AsSpan(_b, h), _dCls, accumulateDx: false);
        _be.EmbeddingBackward(_clsRows.AsSpan(0, _batch), _dCls.AsSpan(0, _batch * h), h, dSequence); // scatter-add back to the [CLS] rows
    }
}

/// <summary>
/// The two pretraining heads. MLM (Google's gather): only the B·P masked positions are taken from the
/// sequence output, transformed (dense, GELU, LayerNorm) and scored against the tied word embeddings plus
/// <c>cls.predictions.bias</c>; loss = mean cross-entropy over the real (weight &gt; 0) entries. NSP: a 2-way
/// linear on the pooled output, mean cross-entropy.
/// </summary>
public sealed class BertPreTrainingHeads
{
    private const int Ignore = -1;
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;
    private readonly int _word, _bias, _tw, _tb, _gamma, _beta, _nw, _nb;
    private int _batch, _m;
    private int[] _rows = [], _targets = [], _argmax = [], _nspArgmax = [], _nspTargets = [];
    private float[] _gathered = [], _tPre = [], _tAct = [], _mean = [], _rstd = [], _transformed = [];
    private float[] _lse = [], _losses = [], _nspLse = [], _nspLosses = [], _dTransformed = [], _dAct = [], _dGathered = [];
    private float[] _dNsp = [], _dPooled = [], _mlmLogits = [], _nspLogits = [], _ceScratch = [];
    private int _mlmCount;

    /// <summary>[B·P, V] logits of the masked positions (overwritten by their gradient in backward).</summary>
    public Span<float> MlmLogits => _mlmLogits.AsSpan(0, _m * _c.VocabSize);
    /// <summary>[B, 2].</summary>
    public Span<float> NspLogits => _nspLogits.AsSpan(0, _batch * 2);

    public BertPreTrainingHeads(BertConfig c, BertParameters p, IComputeBackend be)
    {
        _c = c;
        _p = p;
        _be = be;
        var l = p.Layout;
        _word = l["bert.embeddings.word_embeddings.weight"].Offset;
        _bias = l["cls.predictions.bias"].Offset;
        _tw = l["cls.predictions.transform.dense.weight"].Offset;
        _tb = l["cls.predictions.transform.dense.bias"].Offset;
        _gamma = l["cls.predictions.transform.LayerNorm.weight"].Offset;
        _beta = l["cls.predictions.transform.LayerNorm.bias"].Offset;
        _nw = l["cls.seq_relationship.weight"].Offset;
        _nb = l["cls.seq_relationship.bias"].Offset;
    }

    public void Allocate(int maxBatch, int maxPredictions)
    {
        int h = _c.HiddenSize, m = maxBatch * maxPredictions;
        _rows = new int[m];
        _targets = new int[m];
        _argmax = new int[m];
        _gathered = new float[m * h];
        _tPre = new float[m * h];
        _tAct = new float[m * h];
        _transformed = new float[m * h];
        _mean = new float[m];
        _rstd = new float[m];
        _mlmLogits = new float[checked(m * _c.VocabSize)];
        _ceScratch = new float[checked((int)_be.BiasCrossEntropyScratch(m, _c.VocabSize))];
        _lse = new float[m];
        _losses = new float[m];
        _dTransformed = new float[m * h];
        _dAct = new float[m * h];
        _dGathered = new float[m * h];
        _nspLogits = new float[maxBatch * 2];
        _nspLse = new float[maxBatch];
        _nspLosses = new float[maxBatch];
        _nspArgmax = new int[maxBatch];
        _nspTargets = new int[maxBatch];
        _dNsp = new float[maxBatch * 2];
        _dPooled = new float[maxBatch * h];
    }

    public void SetShape(int batch, int maxPredictions) => (_batch, _m) = (batch, batch * maxPredictions);

    /// <summary>Computes both losses and the accuracy counts into <paramref name="o"/>.</summary>
    public void Forward(ReadOnlySpan<float> sequence, ReadOnlySpan<float> pooled, BertBatch batch, ref TaskMetrics o)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m, t = batch.SeqLength, p = batch.MaxPredictions, mh = m * h;
        var w = _p.Values;
        var rows = _rows.AsSpan(0, m);
        var targets = _targets.AsSpan(0, m);
        _mlmCount = 0;
        for (int i = 0; i < m; i++)
        {
            rows[i] = i / p * t + batch.MaskedLmPositions[i];
            bool real = batch.MaskedLmWeights[i] > 0;
            targets[i] = real ? batch.MaskedLmIds[i] : Ignore;
            if (real) _mlmCount++;
        }
        double mlmLoss = 0;
        int mlmCorrect = 0;
        long time = ModelProfiler.Begin();
        if (m > 0)
        {
            var gathered = _gathered.AsSpan(0, mh);
            var tPre = _tPre.AsSpan(0, mh);
            var tAct = _tAct.AsSpan(0, mh);
            var transformed = _transformed.AsSpan(0, mh);
            var logits = MlmLogits;
            _be.EmbeddingForward(rows, sequence, h, gathered, accumulate: false); // gather the masked rows
            Dense.Forward(_be, gathered, m, h, h, w.AsSpan(_tw, h * h), w.AsSpan(_tb, h), tPre);
            _be.Gelu(tPre, tAct, _c.UsesTanhGelu);
            _be.LayerNormForward(tAct, m, h, w.AsSpan(_gamma, h), w.AsSpan(_beta, h), _c.LayerNormEps, transformed, _mean, _rstd);
            // Decoder tied to the word embeddings: logits = transformed · Eᵀ + bias.
            _be.Sgemm(false, true, m, v, h, 1f, transformed, h, w.AsSpan(_word, v * h), h, 0f, logits, v);
            // + cls.predictions.bias and the cross-entropy, in one pass over the logits.
            _be.BiasCrossEntropyForward(logits, w.AsSpan(_bias, v), m, v, targets, Ignore, _losses.AsSpan(0, m), _lse.AsSpan(0, m), _argmax.AsSpan(0, m));
            for (int i = 0; i < m; i++)
                if (targets[i] != Ignore)
                {
                    mlmLoss += _losses[i];
                    if (_argmax[i] == targets[i]) mlmCorrect++;
                }
        }
        ModelProfiler.End(ProfileSection.MlmHeadForward, time);
        time = ModelProfiler.Begin();

        int b = _batch;
        Dense.Forward(_be, pooled, b, h, 2, w.AsSpan(_nw, 2 * h), w.AsSpan(_nb, 2), NspLogits);
        batch.NextSentenceLabels.AsSpan(0, b).CopyTo(_nspTargets);
        _be.CrossEntropyForward(NspLogits, b, 2, _nspTargets.AsSpan(0, b), Ignore, _nspLosses.AsSpan(0, b), _nspLse.AsSpan(0, b), _nspArgmax.AsSpan(0, b));
        double nspLoss = 0;
        double mlmMean = _mlmCount > 0 ? mlmLoss / _mlmCount : 0;
        int nspCorrect = 0;
        for (int i = 0; i < b; i++)
        {
            nspLoss += _nspLosses[i];
            if (_nspArgmax[i] == _nspTargets[i]) nspCorrect++;
        }
        double nspSum = nspLoss;
        nspLoss /= b;
        ModelProfiler.End(ProfileSection.NspHeadForward, time);

        o.MlmLossSum = mlmLoss;
        o.NspLossSum = nspSum;
        o.Loss = mlmMean + nspLoss;
        o.MlmCorrect = mlmCorrect;
        o.MlmCount = _mlmCount;
        o.NspCorrect = nspCorrect;
        o.NspCount = b;
    }

    /// <summary>Gradients of (MLM loss + NSP loss)·<paramref name="lossScale"/>: parameters accumulated, d(sequence)
    /// added into <paramref name="dSequence"/>, d(pooled) returned (a scratch buffer).</summary>
    public Span<float> Backward(ReadOnlySpan<float> sequence, ReadOnlySpan<float> pooled, Span<float> dSequence, float lossScale)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m, mh = m * h, b = _batch;
        var w = _p.Values;
        var g = _p.Gradients;
        long time = ModelProfiler.Begin();
        if (m > 0 && _mlmCount > 0)
        {
            var logits = MlmLogits;
            var dLogits = logits; // in place: the logits are not needed after this
            var dAct = _dAct.AsSpan(0, mh);
            var dTransformed = _dTransformed.AsSpan(0, mh);
            _be.BiasCrossEntropyBackward(dLogits, _lse.AsSpan(0, m), _targets.AsSpan(0, m), Ignore, m, v, lossScale / _mlmCount,
                g.AsSpan(_bias, v), _ceScratch);
            _be.Sgemm(true, false, v, h, m, 1f, dLogits, v, _transformed, h, 1f, g.AsSpan(_word, v * h), h);
            _be.Sgemm(false, false, m, h, v, 1f, dLogits, v, w.AsSpan(_word, v * h), h, 0f, dTransformed, h);
            _be.LayerNormBackward(dTransformed, _tAct, _mean, _rstd, w.AsSpan(_gamma, h), m, h, dAct, g.AsSpan(_gamma, h), g.AsSpan(_beta, h));
            _be.GeluBackward(_tPre.AsSpan(0, mh), dAct, dAct, _c.UsesTanhGelu);
            Dense.Backward(_be, dAct, _gathered, m, h, h, w.AsSpan(_tw, h * h), g.AsSpan(_tw, h * h), g.AsSpan(_tb, h), _dGathered.AsSpan(0, mh), accumulateDx: false);
            _be.EmbeddingBackward(_rows.AsSpan(0, m), _dGathered.AsSpan(0, mh), h, dSequence); // scatter-add to the masked rows
        }
        ModelProfiler.End(ProfileSection.MlmHeadBackward, time);
        time = ModelProfiler.Begin();
        var dNsp = _dNsp.AsSpan(0, b * 2);
        var dPooled = _dPooled.AsSpan(0, b * h);
        _be.CrossEntropyBackward(NspLogits, _nspLse.AsSpan(0, b), _nspTargets.AsSpan(0, b), Ignore, b, 2, lossScale / b, dNsp);
        Dense.Backward(_be, dNsp, pooled, b, h, 2, w.AsSpan(_nw, 2 * h), g.AsSpan(_nw, 2 * h), g.AsSpan(_nb, 2), dPooled, accumulateDx: false);
        ModelProfiler.End(ProfileSection.NspHeadBackward, time);
        return dPooled;
    }
}
