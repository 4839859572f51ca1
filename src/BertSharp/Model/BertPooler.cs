using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>pooled = tanh(dense(hidden state of [CLS])).</summary>
public sealed class BertPooler
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly Device _d;
    private readonly ParameterView _weight, _bias;
    private int _batch;
    private DeviceTensor _clsRows = null!;                              // [B] Int32: the row of each [CLS]
    private DeviceTensor _cls = null!, _dCls = null!, _output = null!;  // [B, H]

    /// <summary>[B, H] (current shape).</summary>
    public TensorView Output => _output.Prefix(_batch * _c.HiddenSize);

    internal BertPooler(BertConfig c, BertParameters p)
    {
        _c = c;
        _p = p;
        _d = p.Device;
        _weight = ParameterView.Of(p.Layout, "bert.pooler.dense.weight");
        _bias = ParameterView.Of(p.Layout, "bert.pooler.dense.bias");
    }

    internal void Allocate(int maxBatch)
    {
        _clsRows = _d.Reallocate(_clsRows, DType.Int32, maxBatch);
        _cls = _d.Reallocate(_cls, _d.ActivationType, maxBatch, _c.HiddenSize);
        _dCls = _d.Reallocate(_dCls, _d.ActivationType, maxBatch, _c.HiddenSize);
        _output = _d.Reallocate(_output, _d.ActivationType, maxBatch, _c.HiddenSize);
    }

    internal void SetShape(int batch, int seq)
    {
        _batch = batch;
        _d.Iota(_clsRows.Prefix(batch), period: 1, stride: seq);
    }

    /// <summary>sequence [B·T, H] → pooled [B, H].</summary>
    public void Forward(TensorView sequence)
    {
        int h = _c.HiddenSize;
        var output = Output;
        var cls = _cls.Prefix(_batch * h);
        _d.EmbeddingForward(_clsRows.Prefix(_batch), sequence, h, cls, accumulate: false); // gather row 0 of each sequence
        Dense.Forward(_d, cls, _batch, h, h, _weight.Product(_p), _bias.Value(_p), output);
        _d.Tanh(output, output);
    }

    /// <summary><paramref name="dOutput"/> [B, H] is overwritten; d(sequence) is added into the [CLS] rows of <paramref name="dSequence"/>.</summary>
    public void Backward(TensorView dOutput, TensorView dSequence)
    {
        int h = _c.HiddenSize;
        dOutput = dOutput.Slice(0, _batch * h);
        var dCls = _dCls.Prefix(_batch * h);
        _d.TanhBackward(Output, dOutput, dOutput);
        Dense.Backward(_d, dOutput, _cls.Prefix(_batch * h), _batch, h, h, _weight.Product(_p), _weight.Gradient(_p),
            _bias.Gradient(_p), dCls, accumulateDx: false);
        _d.EmbeddingBackward(_clsRows.Prefix(_batch), dCls, h, dSequence); // scatter-add back to the [CLS] rows
    }
}
