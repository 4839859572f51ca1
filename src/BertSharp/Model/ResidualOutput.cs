using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// dense → dropout → + residual → LayerNorm: HF's BertSelfOutput (in = H) and BertOutput (in = I).
/// </summary>
public abstract class ResidualOutput
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly Device _d;
    private readonly EncoderScratch _s;
    private readonly ParameterView _weight, _bias, _gamma, _beta;
    private readonly int _nIn;
    private readonly uint _site;
    private int _n, _seq;
    private DeviceTensor _preLn = null!, _output = null!;  // [B·T, H]
    private DeviceTensor _mean = null!, _rstd = null!;     // [B·T]

    /// <summary>[B·T, H]: LayerNorm(dropout(dense(input)) + residual) (current shape).</summary>
    public TensorView Output => _output.Prefix(_n * _c.HiddenSize);

    private protected ResidualOutput(BertConfig config, BertParameters parameters, EncoderScratch scratch, string prefix, int nIn, uint site)
    {
        _c = config;
        _p = parameters;
        _d = parameters.Device;
        _s = scratch;
        _nIn = nIn;
        _site = site;
        var l = parameters.Layout;
        _weight = ParameterView.Of(l, prefix + "dense.weight");
        _bias = ParameterView.Of(l, prefix + "dense.bias");
        _gamma = ParameterView.Of(l, prefix + "LayerNorm.weight");
        _beta = ParameterView.Of(l, prefix + "LayerNorm.bias");
    }

    internal void Allocate(int maxBatch, int maxSeq)
    {
        int n = maxBatch * maxSeq;
        _preLn = _d.Reallocate(_preLn, _d.ActivationType, n, _c.HiddenSize);
        _output = _d.Reallocate(_output, _d.ActivationType, n, _c.HiddenSize);
        _mean = _d.Reallocate(_mean, DType.Float32, n);
        _rstd = _d.Reallocate(_rstd, DType.Float32, n);
    }

    internal void SetShape(int batch, int seq) => (_n, _seq) = (batch * seq, seq);

    /// <summary>input [B·T, nIn], residual [B·T, H].</summary>
    public void Forward(TensorView input, TensorView residual, in DropoutContext d)
    {
        int h = _c.HiddenSize;
        var preLn = _preLn.Prefix(_n * h);
        Dense.Forward(_d, input, _n, _nIn, h, _weight.Product(_p), _bias.Value(_p), preLn);
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _d.DropoutForward(preLn, preLn, p, d.Seed, d.Step, _site, d.Offset((long)_seq * h));
        _d.Add(preLn, residual.Slice(0, preLn.Length));
        _d.LayerNormForward(preLn, _n, h, _gamma.Value(_p), _beta.Value(_p), _c.LayerNormEps, Output, _mean.Prefix(_n), _rstd.Prefix(_n));
    }

    /// <summary>dInput = d(dense input) (overwritten); dResidual = d(residual) (overwritten).</summary>
    public void Backward(TensorView dOutput, TensorView input, TensorView dInput, TensorView dResidual, in DropoutContext d)
    {
        int h = _c.HiddenSize;
        dResidual = dResidual.Slice(0, _n * h);
        _d.LayerNormBackward(dOutput, _preLn.Prefix(_n * h), _mean.Prefix(_n), _rstd.Prefix(_n), _gamma.Value(_p), _n, h, dResidual,
            _gamma.Gradient(_p), _beta.Gradient(_p));
        float p = d.P(_c.HiddenDropoutProb);
        var dDense = dResidual;
        if (p > 0)
        {
            dDense = _s.DDense.Prefix(_n * h);
            _d.DropoutBackward(dResidual, dDense, p, d.Seed, d.Step, _site, d.Offset((long)_seq * h));
        }
        Dense.Backward(_d, dDense, input, _n, _nIn, h, _weight.Product(_p), _weight.Gradient(_p), _bias.Gradient(_p), dInput, accumulateDx: false);
    }
}
