namespace BertSharp.Model;

/// <summary>
/// Token + segment + position embeddings, LayerNorm, dropout (what tutorials call "JointEmbedding").
/// forward:  sum = word[ids] + token_type[tt] + position[t];  ln = LN(sum);  out = dropout(ln)
/// Buffers hold a capacity shape; <see cref="SetShape"/> picks the current (batch, seq) inside it.
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
    private float[] _output = [];

    /// <summary>[B·T, H]: the encoder's input (current shape).</summary>
    public Span<float> Output => _output.AsSpan(0, _n * _c.HiddenSize);

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

    public void Allocate(int maxBatch, int maxSeq)
    {
        int n = maxBatch * maxSeq, h = _c.HiddenSize;
        _positionIds = new int[n];
        _sum = new float[n * h];
        _dSum = new float[n * h];
        _output = new float[n * h];
        _mean = new float[n];
        _rstd = new float[n];
        _inputIds = new int[n];
        _tokenTypeIds = new int[n];
    }

    public void SetShape(int batch, int seq)
    {
        _n = batch * seq;
        for (int i = 0; i < _n; i++) _positionIds[i] = i % seq;
    }

    public void Forward(ReadOnlySpan<int> inputIds, ReadOnlySpan<int> tokenTypeIds, in DropoutContext d)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, nh = _n * h;
        var w = _p.Values;
        var sum = _sum.AsSpan(0, nh);
        var output = Output;
        // Keep the ids: backward scatters into the same rows.
        inputIds.CopyTo(_inputIds);
        tokenTypeIds.CopyTo(_tokenTypeIds);
        _be.EmbeddingForward(inputIds, w.AsSpan(_word, v * h), h, sum, accumulate: false);
        _be.EmbeddingForward(tokenTypeIds, w.AsSpan(_type, _c.TypeVocabSize * h), h, sum, accumulate: true);
        _be.EmbeddingForward(_positionIds.AsSpan(0, _n), w.AsSpan(_pos, _c.MaxPositionEmbeddings * h), h, sum, accumulate: true);
        _be.LayerNormForward(sum, _n, h, w.AsSpan(_gamma, h), w.AsSpan(_beta, h), _c.LayerNormEps, output, _mean, _rstd);
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _be.DropoutForward(output, output, p, d.Seed, d.Step, DropoutSite);
    }

    /// <summary><paramref name="dOutput"/> is used as scratch (overwritten).</summary>
    public void Backward(Span<float> dOutput, in DropoutContext d)
    {
        int h = _c.HiddenSize, v = _c.VocabSize, nh = _n * h;
        var w = _p.Values;
        var g = _p.Gradients;
        var dSum = _dSum.AsSpan(0, nh);
        dOutput = dOutput[..nh];
        float p = d.P(_c.HiddenDropoutProb);
        if (p > 0) _be.DropoutBackward(dOutput, dOutput, p, d.Seed, d.Step, DropoutSite);
        _be.LayerNormBackward(dOutput, _sum, _mean, _rstd, w.AsSpan(_gamma, h), _n, h, dSum, g.AsSpan(_gamma, h), g.AsSpan(_beta, h));
        // d(sum) goes to each of the three tables' rows.
        _be.EmbeddingBackward(_inputIds.AsSpan(0, _n), dSum, h, g.AsSpan(_word, v * h));
        _be.EmbeddingBackward(_tokenTypeIds.AsSpan(0, _n), dSum, h, g.AsSpan(_type, _c.TypeVocabSize * h));
        _be.EmbeddingBackward(_positionIds.AsSpan(0, _n), dSum, h, g.AsSpan(_pos, _c.MaxPositionEmbeddings * h));
    }
}
