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
    private float[] _cls = [], _dCls = [];

    /// <summary>[B, H].</summary>
    public float[] Output { get; private set; } = [];

    public BertPooler(BertConfig c, BertParameters p, IComputeBackend be)
    {
        _c = c;
        _p = p;
        _be = be;
        _w = p.Layout["bert.pooler.dense.weight"].Offset;
        _b = p.Layout["bert.pooler.dense.bias"].Offset;
    }

    public void Allocate(int batch, int seq)
    {
        _batch = batch;
        _clsRows = new int[batch];
        for (int b = 0; b < batch; b++) _clsRows[b] = b * seq;
        _cls = new float[batch * _c.HiddenSize];
        _dCls = new float[batch * _c.HiddenSize];
        Output = new float[batch * _c.HiddenSize];
    }

    public void Forward(ReadOnlySpan<float> sequence)
    {
        int h = _c.HiddenSize;
        _be.EmbeddingForward(_clsRows, sequence, h, _cls, accumulate: false); // gather row 0 of each sequence
        Dense.Forward(_be, _cls, _batch, h, h, _p.Values.AsSpan(_w, h * h), _p.Values.AsSpan(_b, h), Output);
        _be.Tanh(Output, Output);
    }

    /// <summary><paramref name="dOutput"/> is overwritten; d(sequence) is added into the [CLS] rows of <paramref name="dSequence"/>.</summary>
    public void Backward(Span<float> dOutput, Span<float> dSequence)
    {
        int h = _c.HiddenSize;
        _be.TanhBackward(Output, dOutput, dOutput);
        Dense.Backward(_be, dOutput, _cls, _batch, h, h, _p.Values.AsSpan(_w, h * h), _p.Gradients.AsSpan(_w, h * h),
            _p.Gradients.AsSpan(_b, h), _dCls, accumulateDx: false);
        _be.EmbeddingBackward(_clsRows, _dCls, h, dSequence); // scatter-add back to the [CLS] rows
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
    private float[] _dNsp = [], _dPooled = [];
    private int _mlmCount;

    /// <summary>[B·P, V] logits of the masked positions (overwritten by their gradient in backward).</summary>
    public float[] MlmLogits { get; private set; } = [];
    /// <summary>[B, 2].</summary>
    public float[] NspLogits { get; private set; } = [];

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

    public void Allocate(int batch, int maxPredictions)
    {
        _batch = batch;
        _m = batch * maxPredictions;
        int h = _c.HiddenSize, m = _m;
        _rows = new int[m];
        _targets = new int[m];
        _argmax = new int[m];
        _gathered = new float[m * h];
        _tPre = new float[m * h];
        _tAct = new float[m * h];
        _transformed = new float[m * h];
        _mean = new float[m];
        _rstd = new float[m];
        MlmLogits = new float[checked(m * _c.VocabSize)];
        _lse = new float[m];
        _losses = new float[m];
        _dTransformed = new float[m * h];
        _dAct = new float[m * h];
        _dGathered = new float[m * h];
        NspLogits = new float[batch * 2];
        _nspLse = new float[batch];
        _nspLosses = new float[batch];
        _nspArgmax = new int[batch];
        _nspTargets = new int[batch];
        _dNsp = new float[batch * 2];
        _dPooled = new float[batch * h];
    }

    /// <summary>Computes both losses and the accuracy counts into <paramref name="o"/>.</summary>
    public void Forward(ReadOnlySpan<float> sequence, ReadOnlySpan<float> pooled, in BertBatch batch, ref BertOutputs o)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m, t = batch.SeqLength, p = batch.MaxPredictions;
        var w = _p.Values;
        _mlmCount = 0;
        for (int i = 0; i < m; i++)
        {
            _rows[i] = i / p * t + batch.MaskedLmPositions[i];
            bool real = batch.MaskedLmWeights[i] > 0;
            _targets[i] = real ? batch.MaskedLmIds[i] : Ignore;
            if (real) _mlmCount++;
        }
        double mlmLoss = 0;
        int mlmCorrect = 0;
        long time = ModelProfiler.Begin();
        if (m > 0)
        {
            _be.EmbeddingForward(_rows, sequence, h, _gathered, accumulate: false);
            Dense.Forward(_be, _gathered, m, h, h, w.AsSpan(_tw, h * h), w.AsSpan(_tb, h), _tPre);
            _be.Gelu(_tPre, _tAct, _c.UsesTanhGelu);
            _be.LayerNormForward(_tAct, m, h, w.AsSpan(_gamma, h), w.AsSpan(_beta, h), _c.LayerNormEps, _transformed, _mean, _rstd);
            // Decoder tied to the word embeddings: logits = transformed · Eᵀ + bias.
            _be.Sgemm(false, true, m, v, h, 1f, _transformed, h, w.AsSpan(_word, v * h), h, 0f, MlmLogits, v);
            _be.BiasAdd(MlmLogits, m, v, w.AsSpan(_bias, v));
            _be.CrossEntropyForward(MlmLogits, m, v, _targets, Ignore, _losses, _lse, _argmax);
            for (int i = 0; i < m; i++)
                if (_targets[i] != Ignore)
                {
                    mlmLoss += _losses[i];
                    if (_argmax[i] == _targets[i]) mlmCorrect++;
                }
            if (_mlmCount > 0) mlmLoss /= _mlmCount;
        }
        ModelProfiler.End(ProfileSection.MlmHeadForward, time);
        time = ModelProfiler.Begin();

        Dense.Forward(_be, pooled, _batch, h, 2, w.AsSpan(_nw, 2 * h), w.AsSpan(_nb, 2), NspLogits);
        batch.NextSentenceLabels.CopyTo(_nspTargets);
        _be.CrossEntropyForward(NspLogits, _batch, 2, _nspTargets, Ignore, _nspLosses, _nspLse, _nspArgmax);
        double nspLoss = 0;
        int nspCorrect = 0;
        for (int i = 0; i < _batch; i++)
        {
            nspLoss += _nspLosses[i];
            if (_nspArgmax[i] == _nspTargets[i]) nspCorrect++;
        }
        nspLoss /= _batch;
        ModelProfiler.End(ProfileSection.NspHeadForward, time);

        o.MlmLoss = mlmLoss;
        o.NspLoss = nspLoss;
        o.Loss = mlmLoss + nspLoss;
        o.MlmCorrect = mlmCorrect;
        o.MlmCount = _mlmCount;
        o.NspCorrect = nspCorrect;
        o.NspCount = _batch;
    }

    /// <summary>Gradients of (MLM loss + NSP loss)·<paramref name="lossScale"/>: parameters accumulated, d(sequence)
    /// added into <paramref name="dSequence"/>, d(pooled) returned (a scratch buffer).</summary>
    public float[] Backward(ReadOnlySpan<float> sequence, ReadOnlySpan<float> pooled, Span<float> dSequence, float lossScale)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, m = _m;
        var w = _p.Values;
        var g = _p.Gradients;
        long time = ModelProfiler.Begin();
        if (m > 0 && _mlmCount > 0)
        {
            var dLogits = MlmLogits; // in place: the logits are not needed after this
            _be.CrossEntropyBackward(MlmLogits, _lse, _targets, Ignore, m, v, lossScale / _mlmCount, dLogits);
            _be.BiasBackward(dLogits, m, v, g.AsSpan(_bias, v));
            _be.Sgemm(true, false, v, h, m, 1f, dLogits, v, _transformed, h, 1f, g.AsSpan(_word, v * h), h);
            _be.Sgemm(false, false, m, h, v, 1f, dLogits, v, w.AsSpan(_word, v * h), h, 0f, _dTransformed, h);
            _be.LayerNormBackward(_dTransformed, _tAct, _mean, _rstd, w.AsSpan(_gamma, h), m, h, _dAct, g.AsSpan(_gamma, h), g.AsSpan(_beta, h));
            _be.GeluBackward(_tPre, _dAct, _dAct, _c.UsesTanhGelu);
            Dense.Backward(_be, _dAct, _gathered, m, h, h, w.AsSpan(_tw, h * h), g.AsSpan(_tw, h * h), g.AsSpan(_tb, h), _dGathered, accumulateDx: false);
            _be.EmbeddingBackward(_rows, _dGathered, h, dSequence); // scatter-add to the masked rows
        }
        ModelProfiler.End(ProfileSection.MlmHeadBackward, time);
        time = ModelProfiler.Begin();
        _be.CrossEntropyBackward(NspLogits, _nspLse, _nspTargets, Ignore, _batch, 2, lossScale / _batch, _dNsp);
        Dense.Backward(_be, _dNsp, pooled, _batch, h, 2, w.AsSpan(_nw, 2 * h), g.AsSpan(_nw, 2 * h), g.AsSpan(_nb, 2), _dPooled, accumulateDx: false);
        ModelProfiler.End(ProfileSection.NspHeadBackward, time);
        return _dPooled;
    }
}

/// <summary>Losses and accuracy counts of one forward pass.</summary>
public struct BertOutputs
{
    public double Loss, MlmLoss, NspLoss;
    public int MlmCorrect, MlmCount, NspCorrect, NspCount;

    public readonly double MlmAccuracy => MlmCount == 0 ? 0 : (double)MlmCorrect / MlmCount;
    public readonly double NspAccuracy => NspCount == 0 ? 0 : (double)NspCorrect / NspCount;
    public readonly double MlmPerplexity => Math.Exp(MlmLoss);
}
