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
        long t = ModelProfiler.Begin();
        Attention.Forward(x, additiveMask, d);
        ModelProfiler.End(ProfileSection.AttentionForward, t);
        t = ModelProfiler.Begin();
        AttentionOutput.Forward(Attention.Context, x, d);
        ModelProfiler.End(ProfileSection.AttentionOutputForward, t);
        t = ModelProfiler.Begin();
        Intermediate.Forward(AttentionOutput.Output);
        ModelProfiler.End(ProfileSection.IntermediateForward, t);
        t = ModelProfiler.Begin();
        Output.Forward(Intermediate.Output, AttentionOutput.Output, d);
        ModelProfiler.End(ProfileSection.OutputForward, t);
    }

    /// <summary>dHidden → dx (overwritten). Every parameter gradient of the block is accumulated.</summary>
    public void Backward(TensorView dHidden, TensorView x, TensorView dx, in DropoutContext d)
    {
        int nh = dx.Length;
        var dMid = _s.DMid.Prefix(nh);
        var dInter = _s.DInter.Prefix(Intermediate.Output.Length);
        var dCtx = _s.DCtx.Prefix(nh);
        long t = ModelProfiler.Begin();
        Output.Backward(dHidden, Intermediate.Output, dInter, dMid, d);          // dMid = residual part
        ModelProfiler.End(ProfileSection.OutputBackward, t);
        t = ModelProfiler.Begin();
        Intermediate.Backward(dInter, AttentionOutput.Output, dMid);             // dMid += FFN part
        ModelProfiler.End(ProfileSection.IntermediateBackward, t);
        t = ModelProfiler.Begin();
        AttentionOutput.Backward(dMid, Attention.Context, dCtx, dx, d);          // dx = residual part
        ModelProfiler.End(ProfileSection.AttentionOutputBackward, t);
        t = ModelProfiler.Begin();
        Attention.Backward(dCtx, x, dx, d);                                      // dx += attention part
        ModelProfiler.End(ProfileSection.AttentionBackward, t);
    }
}
