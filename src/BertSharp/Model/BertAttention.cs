namespace BertSharp.Model;

/// <summary>
/// Multi-head self-attention (HF's BertSelfAttention). Q, K and V come from one GEMM against the adjacent
/// [3H, H] weights, are split into heads [3, B, NH, T, D], and each (batch, head) pair is a strided-batched GEMM:
///   scores = Q·Kᵀ;  probs = softmax(scores / sqrt(D) + mask);  probs' = dropout(probs);  ctx = probs'·V
/// The mask is additive, (1 − attention_mask)·(−10000), as Google's BERT and the PyTorch reference.
/// </summary>
public sealed class BertSelfAttention
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;
    private readonly EncoderScratch _s;
    private readonly int _w, _b;
    private readonly uint _site;
    private int _batch, _seq;
    private float[] _qkvHeads = [], _probs = [], _probsDropped = [];

    /// <summary>[B·T, H]: the heads' context vectors merged back per token.</summary>
    public float[] Context { get; private set; } = [];

    public BertSelfAttention(BertConfig config, BertParameters parameters, IComputeBackend backend, EncoderScratch scratch, int layer)
    {
        _c = config;
        _p = parameters;
        _be = backend;
        _s = scratch;
        _w = parameters.Layout[$"bert.encoder.layer.{layer}.attention.self.query.weight"].Offset;
        _b = parameters.Layout[$"bert.encoder.layer.{layer}.attention.self.query.bias"].Offset;
        _site = (uint)(1 + 3 * layer);
    }

    public void Allocate(int batch, int seq)
    {
        _batch = batch;
        _seq = seq;
        int n = batch * seq, h = _c.HiddenSize;
        _qkvHeads = new float[3 * n * h];
        _probs = new float[batch * _c.NumAttentionHeads * seq * seq];
        // Dropped probabilities are kept separately only when dropout can be on (backward needs both).
        _probsDropped = _c.AttentionProbsDropoutProb > 0 ? new float[_probs.Length] : _probs;
        Context = new float[n * h];
    }

    public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> additiveMask, in DropoutContext d)
    {
        int n = _batch * _seq, h = _c.HiddenSize, nh = _c.NumAttentionHeads, hd = _c.HeadSize, t = _seq;
        int bh = _batch * nh, td = t * hd, tt = t * t;
        var w = _p.Values;
        Dense.Forward(_be, x, n, h, 3 * h, w.AsSpan(_w, 3 * h * h), w.AsSpan(_b, 3 * h), _s.Qkv);
        _be.SplitHeads(_s.Qkv, _qkvHeads, _batch, t, 3, nh, hd);
        var q = _qkvHeads.AsSpan(0, n * h);
        var k = _qkvHeads.AsSpan(n * h, n * h);
        var v = _qkvHeads.AsSpan(2 * n * h, n * h);
        _be.SgemmStridedBatched(false, true, t, t, hd, 1f, q, hd, td, k, hd, td, 0f, _probs, t, tt, bh);
        _be.SoftmaxForward(_probs, _probs, _batch, nh * t, t, 1f / MathF.Sqrt(hd), additiveMask);
        float p = d.P(_c.AttentionProbsDropoutProb);
        var pd = p > 0 ? _probsDropped : _probs;
        if (p > 0) _be.DropoutForward(_probs, pd, p, d.Seed, d.Step, _site);
        _be.SgemmStridedBatched(false, false, t, hd, t, 1f, pd, t, tt, v, hd, td, 0f, _s.CtxHeads, hd, td, bh);
        _be.MergeHeads(_s.CtxHeads, Context, _batch, t, 1, nh, hd);
    }

    /// <summary>From d(context) to the parameter gradients, adding d(x) into <paramref name="dx"/>.</summary>
    public void Backward(ReadOnlySpan<float> dContext, ReadOnlySpan<float> x, Span<float> dx, in DropoutContext d)
    {
        int n = _batch * _seq, h = _c.HiddenSize, nh = _c.NumAttentionHeads, hd = _c.HeadSize, t = _seq;
        int bh = _batch * nh, td = t * hd, tt = t * t;
        var w = _p.Values;
        var g = _p.Gradients;
        float p = d.P(_c.AttentionProbsDropoutProb);
        var pd = p > 0 ? _probsDropped : _probs;
        var q = _qkvHeads.AsSpan(0, n * h);
        var k = _qkvHeads.AsSpan(n * h, n * h);
        var v = _qkvHeads.AsSpan(2 * n * h, n * h);
        var dq = _s.DQkvHeads.AsSpan(0, n * h);
        var dk = _s.DQkvHeads.AsSpan(n * h, n * h);
        var dv = _s.DQkvHeads.AsSpan(2 * n * h, n * h);
        var dProbs = _s.DProbs.AsSpan(0, bh * tt);

        _be.SplitHeads(dContext, _s.DCtxHeads, _batch, t, 1, nh, hd);
        _be.SgemmStridedBatched(false, true, t, t, hd, 1f, _s.DCtxHeads, hd, td, v, hd, td, 0f, dProbs, t, tt, bh);
        _be.SgemmStridedBatched(true, false, t, hd, t, 1f, pd, t, tt, _s.DCtxHeads, hd, td, 0f, dv, hd, td, bh);
        if (p > 0) _be.DropoutBackward(dProbs, dProbs, p, d.Seed, d.Step, _site);
        _be.SoftmaxBackward(_probs, dProbs, dProbs, bh * t, t, 1f / MathF.Sqrt(hd));
        _be.SgemmStridedBatched(false, false, t, hd, t, 1f, dProbs, t, tt, k, hd, td, 0f, dq, hd, td, bh);
        _be.SgemmStridedBatched(true, false, t, hd, t, 1f, dProbs, t, tt, q, hd, td, 0f, dk, hd, td, bh);
        _be.MergeHeads(_s.DQkvHeads, _s.DQkv, _batch, t, 3, nh, hd);
        Dense.Backward(_be, _s.DQkv, x, n, h, 3 * h, w.AsSpan(_w, 3 * h * h), g.AsSpan(_w, 3 * h * h), g.AsSpan(_b, 3 * h), dx, accumulateDx: true);
    }
}

/// <summary>
/// dense → dropout → + residual → LayerNorm: HF's BertSelfOutput (in = H) and BertOutput (in = I).
/// </summary>
public abstract class ResidualOutput
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;
    private readonly EncoderScratch _s;
    private readonly int _w, _b, _gamma, _beta, _nIn;
    private readonly uint _site;
    private int _n;
    private float[] _preLn = [], _mean = [], _rstd = [];

    /// <summary>[B·T, H]: LayerNorm(dropout(dense(input)) + residual).</summary>
    public float[] Output { get; private set; } = [];

    protected ResidualOutput(BertConfig config, BertParameters parameters, IComputeBackend backend, EncoderScratch scratch,
        string prefix, int nIn, uint site)
    {
        _c = config;
        _p = parameters;
        _be = backend;
        _s = scratch;
        _nIn = nIn;
        _site = site;
        var l = parameters.Layout;
        _w = l[prefix + "dense.weight"].Offset;
        _b = l[prefix + "dense.bias"].Offset;
        _gamma = l[prefix + "LayerNorm.weight"].Offset;
        _beta = l[prefix + "LayerNorm.bias"].Offset;
    }

    public void Allocate(int batch, int seq)
    {
        _n = batch * seq;
        _preLn = new float[_n * _c.HiddenSize];
        Output = new float[_n * _c.HiddenSize];
        _mean = new float[_n];
        _rstd = new float[_n];
    }

    public void Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> residual, in DropoutContext d)
    {
        int h = _c.HiddenSize;
        var w = _p.Values;
        Dense.Forward(_be, input, _n, _nIn, h, w.AsSpan(_w, h * _nIn), w.AsSpan(_b, h), _preLn);
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _be.DropoutForward(_preLn, _preLn, p, d.Seed, d.Step, _site);
        _be.Add(_preLn, residual);
        _be.LayerNormForward(_preLn, _n, h, w.AsSpan(_gamma, h), w.AsSpan(_beta, h), _c.LayerNormEps, Output, _mean, _rstd);
    }

    /// <summary>dInput = d(dense input) (overwritten); dResidual = d(residual) (overwritten).</summary>
    public void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> input, Span<float> dInput, Span<float> dResidual, in DropoutContext d)
    {
        int h = _c.HiddenSize;
        var w = _p.Values;
        var g = _p.Gradients;
        _be.LayerNormBackward(dOutput, _preLn, _mean, _rstd, w.AsSpan(_gamma, h), _n, h, dResidual, g.AsSpan(_gamma, h), g.AsSpan(_beta, h));
        float p = d.P(_c.HiddenDropoutProb);
        Span<float> dDense = dResidual;
        if (p > 0)
        {
            dDense = _s.DDense.AsSpan(0, _n * h);
            _be.DropoutBackward(dResidual, dDense, p, d.Seed, d.Step, _site);
        }
        Dense.Backward(_be, dDense, input, _n, _nIn, h, w.AsSpan(_w, h * _nIn), g.AsSpan(_w, h * _nIn), g.AsSpan(_b, h), dInput, accumulateDx: false);
    }
}

/// <summary>Attention output projection: dense(H→H), dropout, residual, LayerNorm.</summary>
public sealed class BertSelfOutput(BertConfig c, BertParameters p, IComputeBackend be, EncoderScratch s, int layer)
    : ResidualOutput(c, p, be, s, $"bert.encoder.layer.{layer}.attention.output.", c.HiddenSize, (uint)(2 + 3 * layer));

/// <summary>Feed-forward output: dense(I→H), dropout, residual, LayerNorm.</summary>
public sealed class BertOutput(BertConfig c, BertParameters p, IComputeBackend be, EncoderScratch s, int layer)
    : ResidualOutput(c, p, be, s, $"bert.encoder.layer.{layer}.output.", c.IntermediateSize, (uint)(3 + 3 * layer));
