using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>One post-LayerNorm transformer block: attention (self + output) then feed-forward (intermediate + output).</summary>
public sealed class BertLayer
{
    private readonly EncoderScratch _s;
    /// <summary>Multi-head self-attention.</summary>
    public BertSelfAttention Attention { get; }
    /// <summary>Attention output projection with residual and LayerNorm.</summary>
    public BertSelfOutput AttentionOutput { get; }
    /// <summary>Feed-forward expansion (dense H→I, GELU).</summary>
    public BertIntermediate Intermediate { get; }
    /// <summary>Feed-forward output (dense I→H) with residual and LayerNorm; its output is <see
    /// cref="Hidden"/>.</summary>
    public BertOutput Output { get; }

    internal BertLayer(BertConfig c, BertParameters p, EncoderScratch s, int layer)
    {
        _s = s;
        Attention = new BertSelfAttention(c, p, s, layer);
        AttentionOutput = new BertSelfOutput(c, p, s, layer);
        Intermediate = new BertIntermediate(c, p, layer);
        Output = new BertOutput(c, p, s, layer);
    }

    /// <summary>[B·T, H]: the block's output.</summary>
    public TensorView Hidden => Output.Output;

    internal void Allocate(int maxBatch, int maxSeq)
    {
        Attention.Allocate(maxBatch, maxSeq);
        AttentionOutput.Allocate(maxBatch, maxSeq);
        Intermediate.Allocate(maxBatch, maxSeq);
        Output.Allocate(maxBatch, maxSeq);
    }

    internal void SetShape(int batch, int seq)
    {
        Attention.SetShape(batch, seq);
        AttentionOutput.SetShape(batch, seq);
        Intermediate.SetShape(batch, seq);
        Output.SetShape(batch, seq);
    }

    /// <summary>x [B·T, H] (the previous layer's output), additiveMask [B, T]: runs the block; the result is <see
    /// cref="Hidden"/>.</summary>
    public void Forward(TensorView x, TensorView additiveMask, in DropoutContext d)
    {
        Attention.Forward(x, additiveMask, d);
        AttentionOutput.Forward(Attention.Context, x, d);
        Intermediate.Forward(AttentionOutput.Output);
        Output.Forward(Intermediate.Output, AttentionOutput.Output, d);
    }

    /// <summary>dHidden → dx (overwritten). Every parameter gradient of the block is accumulated.</summary>
    public void Backward(TensorView dHidden, TensorView x, TensorView dx, in DropoutContext d)
    {
        int nh = dx.Length;
        var dMid = _s.DMid.Prefix(nh);
        var dInter = _s.DInter.Prefix(Intermediate.Output.Length);
        var dCtx = _s.DCtx.Prefix(nh);
        Output.Backward(dHidden, Intermediate.Output, dInter, dMid, d);          // dMid = residual part
        Intermediate.Backward(dInter, AttentionOutput.Output, dMid);             // dMid += FFN part
        AttentionOutput.Backward(dMid, Attention.Context, dCtx, dx, d);          // dx = residual part
        Attention.Backward(dCtx, x, dx, d);                                      // dx += attention part
    }
}
