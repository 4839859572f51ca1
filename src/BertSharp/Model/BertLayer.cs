using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>Feed-forward expansion: dense(H→I) then GELU.</summary>
public sealed class BertIntermediate
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly Device _d;
    private readonly ParameterView _weight, _bias;
    private int _n;
    private DeviceTensor _pre = null!, _output = null!; // [B·T, I]

    /// <summary>[B·T, I]: GELU(dense(input)) (current shape).</summary>
    public TensorView Output => _output.Prefix(_n * _c.IntermediateSize);

    internal BertIntermediate(BertConfig config, BertParameters parameters, int layer)
    {
        _c = config;
        _p = parameters;
        _d = parameters.Device;
        _weight = ParameterView.Of(parameters.Layout, $"bert.encoder.layer.{layer}.intermediate.dense.weight");
        _bias = ParameterView.Of(parameters.Layout, $"bert.encoder.layer.{layer}.intermediate.dense.bias");
    }

    internal void Allocate(int maxBatch, int maxSeq)
    {
        _pre = _d.Reallocate(_pre, _d.ActivationType, maxBatch * maxSeq, _c.IntermediateSize);
        _output = _d.Reallocate(_output, _d.ActivationType, maxBatch * maxSeq, _c.IntermediateSize);
    }

    internal void SetShape(int batch, int seq) => _n = batch * seq;

    /// <summary>input [B·T, H].</summary>
    public void Forward(TensorView input)
    {
        int h = _c.HiddenSize, i = _c.IntermediateSize;
        var pre = _pre.Prefix(_n * i);
        Dense.Forward(_d, input, _n, h, i, _weight.Product(_p), _bias.Value(_p), pre);
        _d.Gelu(pre, Output, _c.UsesTanhGelu);
    }

    /// <summary><paramref name="dOutput"/> [B·T, I] is overwritten (scratch); d(input) is added into <paramref name="dInput"/>.</summary>
    public void Backward(TensorView dOutput, TensorView input, TensorView dInput)
    {
        int h = _c.HiddenSize, i = _c.IntermediateSize;
        dOutput = dOutput.Slice(0, _n * i);
        _d.GeluBackward(_pre.Prefix(_n * i), dOutput, dOutput, _c.UsesTanhGelu);
        Dense.Backward(_d, dOutput, input, _n, h, i, _weight.Product(_p), _weight.Gradient(_p), _bias.Gradient(_p),
            dInput, accumulateDx: true);
    }
}

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

/// <summary>The stack of <see cref="BertLayer"/>s.</summary>
public sealed class BertEncoder
{
    private readonly EncoderScratch _s;
    /// <summary>The layers, first to last (<see cref="BertConfig.NumHiddenLayers"/> of them).</summary>
    public BertLayer[] Layers { get; }

    internal BertEncoder(BertConfig c, BertParameters p, EncoderScratch s)
    {
        _s = s;
        Layers = new BertLayer[c.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = new BertLayer(c, p, s, i);
    }

    /// <summary>[B·T, H]: the last layer's output (sequence_output).</summary>
    public TensorView Output => Layers[^1].Hidden;

    internal void Allocate(int maxBatch, int maxSeq)
    {
        foreach (var l in Layers) l.Allocate(maxBatch, maxSeq);
    }

    internal void SetShape(int batch, int seq)
    {
        foreach (var l in Layers) l.SetShape(batch, seq);
    }

    /// <summary>x [B·T, H] (the embeddings' output), additiveMask [B, T]: runs every layer; the result is <see
    /// cref="Output"/>.</summary>
    public void Forward(TensorView x, TensorView additiveMask, in DropoutContext d)
    {
        var input = x;
        foreach (var l in Layers)
        {
            l.Forward(input, additiveMask, d);
            input = l.Hidden;
        }
    }

    /// <summary>From d(sequence_output) to d(embedding output), returned in a scratch buffer.</summary>
    public TensorView Backward(TensorView dOutput, TensorView x, in DropoutContext d)
    {
        int len = x.Length;
        var dy = dOutput;
        TensorView dx = default;
        for (int i = Layers.Length - 1; i >= 0; i--)
        {
            // Ping-pong between the two scratch buffers (layer i reads dy and writes dx).
            dx = (((Layers.Length - 1 - i) & 1) == 0 ? _s.DHidden0 : _s.DHidden1).Prefix(len);
            Layers[i].Backward(dy, i == 0 ? x : Layers[i - 1].Hidden, dx, d);
            dy = dx;
        }
        return dx;
    }
}
