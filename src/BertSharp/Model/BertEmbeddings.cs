namespace BertSharp.Model;

/// <summary>
/// Token + segment + position embeddings, LayerNorm, dropout (what tutorials call "JointEmbedding").
/// forward:  sum = word[ids] + token_type[tt] + position[t];  ln = LN(sum);  out = dropout(ln)
/// </summary>
public sealed class BertEmbeddings
{
    public const uint DropoutSite = 0;
    private readonly BertConfig _c;
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;
    private readonly int _word, _pos, _type, _gamma, _beta;
    private int _n;
    private int[] _positionIds = [];
    private float[] _sum = [], _dSum = [], _mean = [], _rstd = [];
    private int[] _inputIds = [], _tokenTypeIds = [];

    /// <summary>[B·T, H]: the encoder's input.</summary>
    public float[] Output { get; private set; } = [];

    public BertEmbeddings(BertConfig config, BertParameters parameters, IComputeBackend backend)
    {
        _c = config;
        _p = parameters;
        _be = backend;
        var l = parameters.Layout;
        _word = l["bert.embeddings.word_embeddings.weight"].Offset;
        _pos = l["bert.embeddings.position_embeddings.weight"].Offset;
        _type = l["bert.embeddings.token_type_embeddings.weight"].Offset;
        _gamma = l["bert.embeddings.LayerNorm.weight"].Offset;
        _beta = l["bert.embeddings.LayerNorm.bias"].Offset;
    }

    public void Allocate(int batch, int seq)
    {
        _n = batch * seq;
        int h = _c.HiddenSize;
        _positionIds = new int[_n];
        for (int i = 0; i < _n; i++) _positionIds[i] = i % seq;
        _sum = new float[_n * h];
        _dSum = new float[_n * h];
        Output = new float[_n * h];
        _mean = new float[_n];
        _rstd = new float[_n];
        _inputIds = new int[_n];
        _tokenTypeIds = new int[_n];
    }

    public void Forward(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> tokenTypeIds, in DropoutContext d)
    {
        int h = _c.HiddenSize, v = _c.VocabSize;
        var w = _p.Values;
        // Keep the ids: backward scatters into the same rows.
        inputIds.CopyTo(_inputIds);
        tokenTypeIds.CopyTo(_tokenTypeIds);
        _be.EmbeddingForward(inputIds, w.AsSpan(_word, v * h), h, _sum, accumulate: false);
        _be.EmbeddingForward(tokenTypeIds, w.AsSpan(_type, _c.TypeVocabSize * h), h, _sum, accumulate: true);
        _be.EmbeddingForward(_positionIds, w.AsSpan(_pos, _c.MaxPositionEmbeddings * h), h, _sum, accumulate: true);
        _be.LayerNormForward(_sum, _n, h, w.AsSpan(_gamma, h), w.AsSpan(_beta, h), _c.LayerNormEps, Output, _mean, _rstd);
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _be.DropoutForward(Output, Output, p, d.Seed, d.Step, DropoutSite);
    }

    /// <summary><paramref name="dOutput"/> is used as scratch (overwritten).</summary>
    public void Backward(Span<float> dOutput, in DropoutContext d)
    {
        int h = _c.HiddenSize, v = _c.VocabSize;
        var w = _p.Values;
        var g = _p.Gradients;
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _be.DropoutBackward(dOutput, dOutput, p, d.Seed, d.Step, DropoutSite);
        _be.LayerNormBackward(dOutput, _sum, _mean, _rstd, w.AsSpan(_gamma, h), _n, h, _dSum, g.AsSpan(_gamma, h), g.AsSpan(_beta, h));
        // d(sum) goes to each of the three tables' rows.
        _be.EmbeddingBackward(_inputIds, _dSum, h, g.AsSpan(_word, v * h));
        _be.EmbeddingBackward(_tokenTypeIds, _dSum, h, g.AsSpan(_type, _c.TypeVocabSize * h));
        _be.EmbeddingBackward(_positionIds, _dSum, h, g.AsSpan(_pos, _c.MaxPositionEmbeddings * h));
    }
}
