using BertSharp.Tensors;

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
    private readonly Device _d;
    private readonly EncoderScratch _s;
    private readonly ParameterView _qkvWeight, _qkvBias; // [3H, H] and [3H]: query, key and value adjacent
    private readonly uint _site;
    private int _batch, _seq;
    private DeviceTensor _qkv = null!;                           // [B·T, 3H]
    private DeviceTensor _probs = null!, _probsDropped = null!;  // [B, NH, T, T]
    private DeviceTensor _context = null!;                       // [B·T, H]

    /// <summary>[B·T, H]: the heads' context vectors, per token (current shape).</summary>
    public TensorView Context => _context.Prefix(_batch * _seq * _c.HiddenSize);

    internal BertSelfAttention(BertConfig config, BertParameters parameters, EncoderScratch scratch, int layer)
    {
        _c = config;
        _p = parameters;
        _d = parameters.Device;
        _s = scratch;
        var l = parameters.Layout;
        string prefix = $"bert.encoder.layer.{layer}.attention.self.";
        _qkvWeight = ParameterView.Spanning(l, prefix + "query.weight", prefix + "value.weight");
        _qkvBias = ParameterView.Spanning(l, prefix + "query.bias", prefix + "value.bias");
        _site = DropoutSites.AttentionProbs(layer);
    }

    internal void Allocate(int maxBatch, int maxSeq)
    {
        int n = maxBatch * maxSeq, h = _c.HiddenSize;
        var act = _d.ActivationType;
        _qkv = _d.Reallocate(_qkv, act, n, 3 * h);
        _probs = _d.Reallocate(_probs, act, maxBatch, _c.NumAttentionHeads, maxSeq, maxSeq);
        // Dropped probabilities are kept separately only when dropout can be on (backward needs both).
        if (_c.AttentionProbsDropoutProb > 0) _probsDropped = _d.Reallocate(_probsDropped, act, _probs.Shape);
        else _probsDropped = _probs;
        _context = _d.Reallocate(_context, act, n, h);
    }

    internal void SetShape(int batch, int seq) => (_batch, _seq) = (batch, seq);

    /// <summary>x [B·T, H]; additiveMask [B, T].</summary>
    public void Forward(TensorView x, TensorView additiveMask, in DropoutContext d)
    {
        int n = _batch * _seq, h = _c.HiddenSize, nh = _c.NumAttentionHeads, hd = _c.HeadSize, t = _seq;
        int h3 = 3 * h, tt = t * t;
        long row3 = (long)t * h3, nhtt = (long)nh * tt;
        var qkv = _qkv.Prefix(n * h3);
        Dense.Forward(_d, x, n, h, h3, _qkvWeight.Product(_p), _qkvBias.Value(_p), qkv);
        var q = qkv;
        var k = qkv.Slice(h);
        var v = qkv.Slice(2 * h);
        var probs = _probs.Prefix(_batch * nh * tt);
        // scores[b, hd] = Q[b, :, hd]·K[b, :, hd]ᵀ  (T×D times D×T)
        _d.SgemmBatched2D(false, true, t, t, hd, 1f, q, h3, row3, hd, k, h3, row3, hd, 0f, probs, t, nhtt, tt, _batch, nh);
        _d.SoftmaxForward(probs, probs, _batch, nh * t, t, 1f / MathF.Sqrt(hd), additiveMask);
        float p = d.P(_c.AttentionProbsDropoutProb);
        var pd = p > 0 ? _probsDropped.Prefix(probs.Length) : probs;
        if (p > 0) _d.DropoutForward(probs, pd, p, d.Seed, d.Step, _site, d.Offset((long)nh * tt));
        // context[b, :, hd] = probs[b, hd]·V[b, :, hd], written into its head's columns of [B, T, H]
        _d.SgemmBatched2D(false, false, t, hd, t, 1f, pd, t, nhtt, tt, v, h3, row3, hd, 0f, Context, h, (long)t * h, hd, _batch, nh);
    }

    /// <summary>From d(context) [B·T, H] to the parameter gradients, adding d(x) into <paramref name="dx"/>.</summary>
    public void Backward(TensorView dContext, TensorView x, TensorView dx, in DropoutContext d)
    {
        int n = _batch * _seq, h = _c.HiddenSize, nh = _c.NumAttentionHeads, hd = _c.HeadSize, t = _seq;
        int h3 = 3 * h, tt = t * t, bh = _batch * nh;
        long row3 = (long)t * h3, row = (long)t * h, nhtt = (long)nh * tt;
        float p = d.P(_c.AttentionProbsDropoutProb);
        var probs = _probs.Prefix(bh * tt);
        var pd = p > 0 ? _probsDropped.Prefix(bh * tt) : probs;
        var qkv = _qkv.Prefix(n * h3);
        var q = qkv;
        var k = qkv.Slice(h);
        var v = qkv.Slice(2 * h);
        var dqkv = _s.DQkv.Prefix(n * h3);
        var dq = dqkv;
        var dk = dqkv.Slice(h);
        var dv = dqkv.Slice(2 * h);
        var dProbs = _s.DProbs.Prefix(bh * tt);

        // d(probs') = dctx·Vᵀ;  dV = probs'ᵀ·dctx
        _d.SgemmBatched2D(false, true, t, t, hd, 1f, dContext, h, row, hd, v, h3, row3, hd, 0f, dProbs, t, nhtt, tt, _batch, nh);
        _d.SgemmBatched2D(true, false, t, hd, t, 1f, pd, t, nhtt, tt, dContext, h, row, hd, 0f, dv, h3, row3, hd, _batch, nh);
        if (p > 0) _d.DropoutBackward(dProbs, dProbs, p, d.Seed, d.Step, _site, d.Offset((long)nh * tt));
        _d.SoftmaxBackward(probs, dProbs, dProbs, bh * t, t, 1f / MathF.Sqrt(hd));
        // dQ = dscores·K;  dK = dscoresᵀ·Q  (the 1/sqrt(D) scale is inside the softmax backward)
        _d.SgemmBatched2D(false, false, t, hd, t, 1f, dProbs, t, nhtt, tt, k, h3, row3, hd, 0f, dq, h3, row3, hd, _batch, nh);
        _d.SgemmBatched2D(true, false, t, hd, t, 1f, dProbs, t, nhtt, tt, q, h3, row3, hd, 0f, dk, h3, row3, hd, _batch, nh);
        Dense.Backward(_d, dqkv, x, n, h, h3, _qkvWeight.Product(_p), _qkvWeight.Gradient(_p), _qkvBias.Gradient(_p), dx, accumulateDx: true);
    }
}
