namespace BertSharp.Model;

/// <summary>Feed-forward expansion: dense(H→I) then GELU.</summary>
public sealed class BertIntermediate
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;
    private readonly int _w, _b;
    private int _n;
    private float[] _pre = [], _output = [];

    /// <summary>[B·T, I]: GELU(dense(input)) (current shape).</summary>
    public Span<float> Output => _output.AsSpan(0, _n * _c.IntermediateSize);

    public BertIntermediate(BertConfig config, BertParameters parameters, IComputeBackend backend, int layer)
    {
        _c = config;
        _p = parameters;
        _be = backend;
        _w = parameters.Layout[$"bert.encoder.layer.{layer}.intermediate.dense.weight"].Offset;
        _b = parameters.Layout[$"bert.encoder.layer.{layer}.intermediate.dense.bias"].Offset;
    }

    public void Allocate(int maxBatch, int maxSeq)
    {
        _pre = new float[maxBatch * maxSeq * _c.IntermediateSize];
        _output = new float[_pre.Length];
    }

    public void SetShape(int batch, int seq) => _n = batch * seq;

    public void Forward(ReadOnlySpan<float> input)
    {
        int h = _c.HiddenSize, i = _c.IntermediateSize;
        var pre = _pre.AsSpan(0, _n * i);
        Dense.Forward(_be, input, _n, h, i, _p.Values.AsSpan(_w, i * h), _p.Values.AsSpan(_b, i), pre);
        _be.Gelu(pre, Output, _c.UsesTanhGelu);
    }

    /// <summary><paramref name="dOutput"/> is overwritten (scratch); d(input) is added into <paramref name="dInput"/>.</summary>
    public void Backward(Span<float> dOutput, ReadOnlySpan<float> input, Span<float> dInput)
    {
        int h = _c.HiddenSize, i = _c.IntermediateSize;
        dOutput = dOutput[..(_n * i)];
        _be.GeluBackward(_pre.AsSpan(0, _n * i), dOutput, dOutput, _c.UsesTanhGelu);
        Dense.Backward(_be, dOutput, input, _n, h, i, _p.Values.AsSpan(_w, i * h), _p.Gradients.AsSpan(_w, i * h),
            _p.Gradients.AsSpan(_b, i), dInput, accumulateDx: true);
    }
}

/// <summary>One post-LayerNorm transformer block: attention (self + output) then feed-forward (intermediate + output).</summary>
public sealed class BertLayer
{
    private readonly EncoderScratch _s;
    public BertSelfAttention Attention { get; }
    public BertSelfOutput AttentionOutput { get; }
    public BertIntermediate Intermediate { get; }
    public BertOutput Output { get; }

    public BertLayer(BertConfig c, BertParameters p, IComputeBackend be, EncoderScratch s, int layer)
    {
        _s = s;
        Attention = new BertSelfAttention(c, p, be, s, layer);
        AttentionOutput = new BertSelfOutput(c, p, be, s, layer);
        Intermediate = new BertIntermediate(c, p, be, layer);
        Output = new BertOutput(c, p, be, s, layer);
    }

    public Span<float> Hidden => Output.Output;

    public void Allocate(int maxBatch, int maxSeq)
    {
        Attention.Allocate(maxBatch, maxSeq);
        AttentionOutput.Allocate(maxBatch, maxSeq);
        Intermediate.Allocate(maxBatch, maxSeq);
        Output.Allocate(maxBatch, maxSeq);
    }

    public void SetShape(int batch, int seq)
    {
        Attention.SetShape(batch, seq);
        AttentionOutput.SetShape(batch, seq);
        Intermediate.SetShape(batch, seq);
        Output.SetShape(batch, seq);
    }

    public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> additiveMask, in DropoutContext d)
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
    public void Backward(ReadOnlySpan<float> dHidden, ReadOnlySpan<float> x, Span<float> dx, in DropoutContext d)
    {
        int nh = dx.Length;
        var dMid = _s.DMid.AsSpan(0, nh);
        var dInter = _s.DInter.AsSpan(0, Intermediate.Output.Length);
        dx = dx[..nh];
        long t = ModelProfiler.Begin();
        Output.Backward(dHidden, Intermediate.Output, dInter, dMid, d);          // dMid = residual part
        ModelProfiler.End(ProfileSection.OutputBackward, t);
        t = ModelProfiler.Begin();
        Intermediate.Backward(dInter, AttentionOutput.Output, dMid);             // dMid += FFN part
        ModelProfiler.End(ProfileSection.IntermediateBackward, t);
        t = ModelProfiler.Begin();
        AttentionOutput.Backward(dMid, Attention.Context, _s.DCtx.AsSpan(0, nh), dx, d); // dx = residual part
        ModelProfiler.End(ProfileSection.AttentionOutputBackward, t);
        t = ModelProfiler.Begin();
        Attention.Backward(_s.DCtx.AsSpan(0, nh), x, dx, d);                     // dx += attention part
        ModelProfiler.End(ProfileSection.AttentionBackward, t);
    }
}

/// <summary>The stack of <see cref="BertLayer"/>s.</summary>
public sealed class BertEncoder
{
    private readonly EncoderScratch _s;
    public BertLayer[] Layers { get; }

    public BertEncoder(BertConfig c, BertParameters p, IComputeBackend be, EncoderScratch s)
    {
        _s = s;
        Layers = new BertLayer[c.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = new BertLayer(c, p, be, s, i);
    }

    /// <summary>[B·T, H]: the last layer's output (sequence_output).</summary>
    public Span<float> Output => Layers[^1].Hidden;

    public void Allocate(int maxBatch, int maxSeq)
    {
        foreach (var l in Layers) l.Allocate(maxBatch, maxSeq);
    }

    public void SetShape(int batch, int seq)
    {
        foreach (var l in Layers) l.SetShape(batch, seq);
    }

    public void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> additiveMask, in DropoutContext d)
    {
        ReadOnlySpan<float> input = x;
        foreach (var l in Layers)
        {
            l.Forward(input, additiveMask, d);
            input = l.Hidden;
        }
    }

    /// <summary>From d(sequence_output) to d(embedding output), returned in a scratch buffer.</summary>
    public Span<float> Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> x, in DropoutContext d)
    {
        int len = x.Length;
        ReadOnlySpan<float> dy = dOutput;
        Span<float> dx = default;
        for (int i = Layers.Length - 1; i >= 0; i--)
        {
            // Ping-pong between the two scratch buffers (layer i reads dy and writes dx).
            dx = (((Layers.Length - 1 - i) & 1) == 0 ? _s.DHidden0 : _s.DHidden1).AsSpan(0, len);
            Layers[i].Backward(dy, i == 0 ? x : Layers[i - 1].Hidden, dx, d);
            dy = dx;
        }
        return dx;
    }
}
