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
