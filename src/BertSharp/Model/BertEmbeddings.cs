using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Token + segment + position embeddings, LayerNorm, dropout (what tutorials call "JointEmbedding").
/// forward:  sum = word[ids] + token_type[tt] + position[t];  ln = LN(sum);  out = dropout(ln)
/// Buffers hold a capacity shape on the device; <see cref="SetShape"/> picks the current (batch, seq) inside it.
/// </summary>
public sealed class BertEmbeddings
{
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly Device _d;
    private readonly ParameterView _word, _pos, _type, _gamma, _beta;
    private int _n, _seq;
    private DeviceTensor _positionIds = null!;                    // [B·T] Int32: t of each token
    private DeviceTensor _sum = null!, _dSum = null!, _output = null!; // [B·T, H]
    private DeviceTensor _mean = null!, _rstd = null!;            // [B·T]
    private TensorView _inputIds, _tokenTypeIds;                  // the batch's ids on the device, kept for backward

    /// <summary>[B·T, H]: the encoder's input (current shape).</summary>
    public TensorView Output => _output.Prefix(_n * _c.HiddenSize);

    internal BertEmbeddings(BertConfig config, BertParameters parameters)
    {
        _c = config;
        _p = parameters;
        _d = parameters.Device;
        var l = parameters.Layout;
        _word = ParameterView.Of(l, "bert.embeddings.word_embeddings.weight");
        _pos = ParameterView.Of(l, "bert.embeddings.position_embeddings.weight");
        _type = ParameterView.Of(l, "bert.embeddings.token_type_embeddings.weight");
        _gamma = ParameterView.Of(l, "bert.embeddings.LayerNorm.weight");
        _beta = ParameterView.Of(l, "bert.embeddings.LayerNorm.bias");
    }

    internal void Allocate(int maxBatch, int maxSeq)
    {
        int n = maxBatch * maxSeq, h = _c.HiddenSize;
        _positionIds = _d.Reallocate(_positionIds, DType.Int32, n);
        _sum = _d.Reallocate(_sum, _d.ActivationType, n, h);
        _dSum = _d.Reallocate(_dSum, _d.ActivationType, n, h);
        _output = _d.Reallocate(_output, _d.ActivationType, n, h);
        _mean = _d.Reallocate(_mean, DType.Float32, n);
        _rstd = _d.Reallocate(_rstd, DType.Float32, n);
    }

    internal void SetShape(int batch, int seq)
    {
        (_n, _seq) = (batch * seq, seq);
        _d.Iota(_positionIds.Prefix(_n), period: seq, stride: 0);
    }

    /// <summary><paramref name="inputIds"/>, <paramref name="tokenTypeIds"/>: [B·T] Int32 on the device, valid until backward.</summary>
    public void Forward(TensorView inputIds, TensorView tokenTypeIds, in DropoutContext d)
    {
        int h = _c.HiddenSize, nh = _n * h;
        var sum = _sum.Prefix(nh);
        var output = Output;
        (_inputIds, _tokenTypeIds) = (inputIds, tokenTypeIds);
        _d.EmbeddingForward(inputIds, _word.Value(_p), h, sum, accumulate: false);
        _d.EmbeddingForward(tokenTypeIds, _type.Value(_p), h, sum, accumulate: true);
        _d.EmbeddingForward(_positionIds.Prefix(_n), _pos.Value(_p), h, sum, accumulate: true);
        _d.LayerNormForward(sum, _n, h, _gamma.Value(_p), _beta.Value(_p), _c.LayerNormEps, output, _mean.Prefix(_n), _rstd.Prefix(_n));
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _d.DropoutForward(output, output, p, d.Seed, d.Step, DropoutSites.Embeddings, d.Offset((long)_seq * h));
    }

    /// <summary><paramref name="dOutput"/> [B·T, H] is used as scratch (overwritten).</summary>
    public void Backward(TensorView dOutput, in DropoutContext d)
    {
        int h = _c.HiddenSize, nh = _n * h;
        var dSum = _dSum.Prefix(nh);
        dOutput = dOutput.Slice(0, nh);
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _d.DropoutBackward(dOutput, dOutput, p, d.Seed, d.Step, DropoutSites.Embeddings, d.Offset((long)_seq * h));
        _d.LayerNormBackward(dOutput, _sum.Prefix(nh), _mean.Prefix(_n), _rstd.Prefix(_n), _gamma.Value(_p), _n, h, dSum, _gamma.Gradient(_p), _beta.Gradient(_p));
        // d(sum) goes to each of the three tables' rows.
        _d.EmbeddingBackward(_inputIds, dSum, h, _word.Gradient(_p));
        _d.EmbeddingBackward(_tokenTypeIds, dSum, h, _type.Gradient(_p));
        _d.EmbeddingBackward(_positionIds.Prefix(_n), dSum, h, _pos.Gradient(_p));
    }
}
