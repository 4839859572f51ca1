namespace BertSharp.Model;

/// <summary>
/// Multi-head self-attention (HF's BertSelfAttention). Q, K and V come from one GEMM against the adjacent
/// [3H, H] weights into [B, T, 3H]; each (batch, head) pair is one GEMM reading its head's columns in place
/// (leading dimension 3H), so nothing is permuted to [B, NH, T, D]:
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
    private float[] _qkv = [], _probs = [], _probsDropped = [], _context = [];

    /// <summary>[B·T, H]: the heads' context vectors, per token (current shape).</summary>
    public Span<float> Context => _context.AsSpan(0, _batch * _seq * _c.HiddenSize);

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

    public void Allocate(int maxBatch, int maxSeq)
    {
        int n = maxBatch * maxSeq, h = _c.HiddenSize;
        _qkv = new float[3 * n * h];
        _probs = new float[maxBatch * _c.NumAttentionHeads * maxSeq * maxSeq];
        // Dropped probabilities are kept separately only when dropout can be on (backward needs both).
        _probsDropped = _c.AttentionProbsDropoutProb > 0 ? new float[_probs.Length] : _probs;
        _context = new float[n * h];
    }

    public void SetShape(int batch, int seq) => (_batch, _seq) = (batch, seq);

    public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> additiveMask, in DropoutContext d)
    {
        int n = _batch * _seq, h = _c.HiddenSize, nh = _c.NumAttentionHeads, hd = _c.HeadSize, t = _seq;
        int h3 = 3 * h, tt = t * t;
        long row3 = (long)t * h3, nhtt = (long)nh * tt;
        var w = _p.Values;
        Dense.Forward(_be, x, n, h, h3, w.AsSpan(_w, h3 * h), w.AsSpan(_b, h3), _qkv);
        var q = _qkv.AsSpan(0, n * h3);
        var k = _qkv.AsSpan(h, n * h3 - h);
        var v = _qkv.AsSpan(2 * h, n * h3 - 2 * h);
        var probs = _probs.AsSpan(0, _batch * nh * tt);
        // scores[b, hd] = Q[b, :, hd]·K[b, :, hd]ᵀ  (T×D times D×T)
        _be.SgemmBatched2D(false, true, t, t, hd, 1f, q, h3, row3, hd, k, h3, row3, hd, 0f, probs, t, nhtt, tt, _batch, nh);
        _be.SoftmaxForward(probs, probs, _batch, nh * t, t, 1f / MathF.Sqrt(hd), additiveMask);
        float p = d.P(_c.AttentionProbsDropoutProb);
        var pd = p > 0 ? _probsDropped.AsSpan(0, probs.Length) : probs;
        if (p > 0) _be.DropoutForward(probs, pd, p, d.Seed, d.Step, _site);
        // context[b, :, hd] = probs[b, hd]·V[b, :, hd], written into its head's columns of [B, T, H]
        _be.SgemmBatched2D(false, false, t, hd, t, 1f, pd, t, nhtt, tt, v, h3, row3, hd, 0f, Context, h, (long)t * h, hd, _batch, nh);
    }

    /// <summary>From d(context) to the parameter gradients, adding d(x) into <paramref name="dx"/>.</summary>
    public void Backward(ReadOnlySpan<float> dContext, ReadOnlySpan<float> x, Span<float> dx, in DropoutContext d)
    {
        int n = _batch * _seq, h = _c.HiddenSize, nh = _c.NumAttentionHeads, hd = _c.HeadSize, t = _seq;
        int h3 = 3 * h, tt = t * t, bh = _batch * nh;
        long row3 = (long)t * h3, row = (long)t * h, nhtt = (long)nh * tt;
        var w = _p.Values;
        var g = _p.Gradients;
        float p = d.P(_c.AttentionProbsDropoutProb);
        var probs = _probs.AsSpan(0, bh * tt);
        var pd = p > 0 ? _probsDropped.AsSpan(0, bh * tt) : probs;
        var q = _qkv.AsSpan(0, n * h3);
        var k = _qkv.AsSpan(h, n * h3 - h);
        var v = _qkv.AsSpan(2 * h, n * h3 - 2 * h);
        var dq = _s.DQkv.AsSpan(0, n * h3);
        var dk = _s.DQkv.AsSpan(h, n * h3 - h);
        var dv = _s.DQkv.AsSpan(2 * h, n * h3 - 2 * h);
        var dProbs = _s.DProbs.AsSpan(0, bh * tt);

        // d(probs') = dctx·Vᵀ;  dV = probs'ᵀ·dctx
        _be.SgemmBatched2D(false, true, t, t, hd, 1f, dContext, h, row, hd, v, h3, row3, hd, 0f, dProbs, t, nhtt, tt, _batch, nh);
        _be.SgemmBatched2D(true, false, t, hd, t, 1f, pd, t, nhtt, tt, dContext, h, row, hd, 0f, dv, h3, row3, hd, _batch, nh);
        if (p > 0) _be.DropoutBackward(dProbs, dProbs, p, d.Seed, d.Step, _site);
        _be.SoftmaxBackward(probs, dProbs, dProbs, bh * t, t, 1f / MathF.Sqrt(hd));
        // dQ = dscores·K;  dK = dscoresᵀ·Q  (the 1/sqrt(D) scale is inside the softmax backward)
        _be.SgemmBatched2D(false, false, t, hd, t, 1f, dProbs, t, nhtt, tt, k, h3, row3, hd, 0f, dq, h3, row3, hd, _batch, nh);
        _be.SgemmBatched2D(true, false, t, hd, t, 1f, dProbs, t, nhtt, tt, q, h3, row3, hd, 0f, dk, h3, row3, hd, _batch, nh);
        Dense.Backward(_be, _s.DQkv.AsSpan(0, n * h3), x, n, h, h3, w.AsSpan(_w, h3 * h), g.AsSpan(_w, h3 * h), g.AsSpan(_b, h3), dx, accumulateDx: true);
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
    private float[] _preLn = [], _mean = [], _rstd = [], _output = [];

    /// <summary>[B·T, H]: LayerNorm(dropout(dense(input)) + residual) (current shape).</summary>
    public Span<float> Output => _output.AsSpan(0, _n * _c.HiddenSize);

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

    public void Allocate(int maxBatch, int maxSeq)
    {
        int n = maxBatch * maxSeq;
        _preLn = new float[n * _c.HiddenSize];
        _output = new float[n * _c.HiddenSize];
        _mean = new float[n];
        _rstd = new float[n];
    }

    public void SetShape(int batch, int seq) => _n = batch * seq;

    public void Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> residual, in DropoutContext d)
    {
        int h = _c.HiddenSize;
        var w = _p.Values;
        var preLn = _preLn.AsSpan(0, _n * h);
        Dense.Forward(_be, input, _n, _nIn, h, w.AsSpan(_w, h * _nIn), w.AsSpan(_b, h), preLn);
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _be.DropoutForward(preLn, preLn, p, d.Seed, d.Step, _site);
        _be.Add(preLn, residual[..preLn.Length]);
        _be.LayerNormForward(preLn, _n, h, w.AsSpan(_gamma, h), w.AsSpan(_beta, h), _c.LayerNormEps, Output, _mean, _rstd);
    }

    /// <summary>dInput = d(dense input) (overwritten); dResidual = d(residual) (overwritten).</summary>
    public void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> input, Span<float> dInput, Span<float> dResidual, in DropoutContext d)
    {
        int h = _c.HiddenSize;
        var w = _p.Values;
        var g = _p.Gradients;
        _be.LayerNormBackward(dOutput, _preLn, _mean, _rstd, w.AsSpan(_gamma, h), _n, h, dResidual, g.AsSpan(_gamma, h), g.AsSpan(_beta, h));
        float p = d.P(_c.HiddenDropoutProb);
        dResidual = dResidual[..(_n * h)];
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
