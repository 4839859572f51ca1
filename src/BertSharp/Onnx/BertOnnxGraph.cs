using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Onnx.Proto;
using static BertSharp.Onnx.OnnxGraphBuilder;
using DataType = BertSharp.Onnx.Proto.TensorProto.Types.DataType;

namespace BertSharp.Onnx;

/// <summary>
/// BERT as an ONNX graph of standard ops, laid out as HuggingFace's PyTorch export lays it out (MatMul + Add for
/// each dense layer, Reshape/Transpose per head, Div by √d, the additive −10000 mask, Softmax, LayerNormalization,
/// GELU as Div → Erf → Add → Mul → Mul), because ONNX Runtime's graph fusions (SkipLayerNormalization, Gelu/BiasGelu,
/// Attention) match exactly those patterns. Dense weights are stored transposed, [in, out], as MatMul's B.
/// </summary>
internal sealed class BertOnnxGraph
{
    public const string InputIds = "input_ids", AttentionMask = "attention_mask", TokenTypeIds = "token_type_ids";
    public const string LastHiddenState = "last_hidden_state", PredictionLogits = "prediction_logits",
        SeqRelationshipLogits = "seq_relationship_logits", Logits = "logits";
    private const string Batch = "batch_size", Sequence = "sequence_length";

    private readonly OnnxGraphBuilder _g;
    private readonly BertParameterLayout _layout;
    private readonly BertConfig _c;
    private readonly float[] _values;

    private BertOnnxGraph(BertParameters parameters, WeightsDtype dtype)
    {
        _layout = parameters.Layout;
        _c = parameters.Config;
        _values = parameters.ToArray(); // one copy of every weight to the host
        _g = new OnnxGraphBuilder("bert", dtype);
    }

    /// <summary>The graph of <paramref name="task"/> (resolved, not Auto) over <paramref name="parameters"/>.</summary>
    public static (GraphProto Graph, string[] Outputs) Build(BertParameters parameters, OnnxTask task, WeightsDtype dtype)
    {
        var b = new BertOnnxGraph(parameters, dtype);
        var outputs = b.Emit(task);
        return (b._g.Graph, outputs);
    }

    private string[] Emit(OnnxTask task)
    {
        var graph = _g.Graph;
        foreach (var name in new[] { InputIds, AttentionMask, TokenTypeIds })
            graph.Input.Add(Value(name, DataType.Int64, Batch, Sequence));

        string hidden = Encoder();
        string last = _g.Node("Identity", [hidden], output: LastHiddenState);
        var outputs = new List<(string Name, object[] Dims)>();
        switch (task)
        {
            case OnnxTask.FeatureExtraction:
                outputs.Add((last, [Batch, Sequence, _c.HiddenSize]));
                break;
            case OnnxTask.TextClassification:
                Dense(Pooler(hidden), BertParameterLayout.ClassifierWeight, BertParameterLayout.ClassifierBias, Logits);
                outputs.Add((Logits, [Batch, _layout.NumLabels]));
                break;
            case OnnxTask.PreTraining:
                // MLM: transform (dense, activation, LayerNorm), then the decoder tied to the word embeddings.
                string t = Activation(Dense(hidden, "cls.predictions.transform.dense"));
                t = LayerNorm(t, "cls.predictions.transform.LayerNorm");
                string decoder = _g.Node("Transpose", [_wordEmbeddings!], [Attr("perm", new long[] { 1, 0 })]);
                _g.Node("Add", [_g.Node("MatMul", [t, decoder]), Weight("cls.predictions.bias")], output: PredictionLogits);
                Dense(Pooler(hidden), "cls.seq_relationship.weight", "cls.seq_relationship.bias", SeqRelationshipLogits);
                outputs.Add((PredictionLogits, [Batch, Sequence, _c.VocabSize]));
                outputs.Add((SeqRelationshipLogits, [Batch, 2]));
                outputs.Add((last, [Batch, Sequence, _c.HiddenSize]));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(task), task, "resolve Auto first");
        }
        foreach (var (name, dims) in outputs) graph.Output.Add(Value(name, DataType.Float, dims));
        return outputs.Select(o => o.Name).ToArray();
    }

    private string? _wordEmbeddings;

    private string Encoder()
    {
        // Embeddings: word + token type + the first sequence_length rows of the position table, then LayerNorm.
        _wordEmbeddings = Weight("bert.embeddings.word_embeddings.weight");
        string words = _g.Node("Gather", [_wordEmbeddings, InputIds]);
        string types = _g.Node("Gather", [Weight("bert.embeddings.token_type_embeddings.weight"), TokenTypeIds]);
        string length = _g.Node("Shape", [InputIds], [Attr("start", 1L), Attr("end", 2L)]);
        string positions = _g.Node("Slice", [Weight("bert.embeddings.position_embeddings.weight"), _g.Int64s([0]), length, _g.Int64s([0])]);
        string x = LayerNorm(_g.Node("Add", [_g.Node("Add", [words, types]), positions]), "bert.embeddings.LayerNorm");

        // The additive mask [batch, 1, 1, sequence]: 0 where attention_mask is 1, −10000 where it is 0 (BertModel.MaskValue).
        string m = _g.Node("Unsqueeze", [_g.Node("Unsqueeze", [AttentionMask, _g.Int64s([1])]), _g.Int64s([2])]);
        m = _g.Node("Cast", [m], [Attr("to", (long)DataType.Float)]);
        string mask = _g.Node("Mul", [_g.Node("Sub", [_g.Constant(1f), m]), _g.Constant(BertModel.MaskValue)]);

        for (int l = 0; l < _c.NumHiddenLayers; l++) x = Layer(x, mask, $"bert.encoder.layer.{l}.");
        return x;
    }

    private string Layer(string x, string mask, string p)
    {
        long heads = _c.NumAttentionHeads, d = _c.HeadSize;
        string Heads(string name, long[] perm) =>
            _g.Node("Transpose", [_g.Node("Reshape", [Dense(x, p + "attention.self." + name), _g.Int64s([0, 0, heads, d])])], [Attr("perm", perm)]);
        string q = Heads("query", [0, 2, 1, 3]), k = Heads("key", [0, 2, 3, 1]), v = Heads("value", [0, 2, 1, 3]);
        string scores = _g.Node("Add", [_g.Node("Div", [_g.Node("MatMul", [q, k]), _g.Constant(MathF.Sqrt(d))]), mask]);
        string probs = _g.Node("Softmax", [scores], [Attr("axis", -1L)]);
        string context = _g.Node("Transpose", [_g.Node("MatMul", [probs, v])], [Attr("perm", new long[] { 0, 2, 1, 3 })]);
        context = _g.Node("Reshape", [context, _g.Int64s([0, 0, _c.HiddenSize])]);
        string attended = LayerNorm(_g.Node("Add", [Dense(context, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm");
        string inner = Activation(Dense(attended, p + "intermediate.dense"));
        return LayerNorm(_g.Node("Add", [Dense(inner, p + "output.dense"), attended]), p + "output.LayerNorm");
    }

    /// <summary>tanh(dense([CLS])): the pooler over the first position.</summary>
    private string Pooler(string hidden)
    {
        string cls = _g.Node("Gather", [hidden, _g.Int64s([0], scalar: true)], [Attr("axis", 1L)]);
        return _g.Node("Tanh", [Dense(cls, "bert.pooler.dense")]);
    }

    private string Dense(string x, string prefix) => Dense(x, prefix + ".weight", prefix + ".bias");

    private string Dense(string x, string weight, string bias, string? output = null) =>
        _g.Node("Add", [_g.Node("MatMul", [x, TransposedWeight(weight)]), Weight(bias)], output: output);

    private string LayerNorm(string x, string prefix) =>
        _g.Node("LayerNormalization", [x, Weight(prefix + ".weight"), Weight(prefix + ".bias")],
            [Attr("axis", -1L), Attr("epsilon", _c.LayerNormEps)]);

    /// <summary>The config's hidden_act: exact GELU x·½(1 + erf(x/√2)), or the tanh form of gelu_new.</summary>
    private string Activation(string x)
    {
        if (!_c.UsesTanhGelu)
        {
            string erf = _g.Node("Erf", [_g.Node("Div", [x, _g.Constant(MathF.Sqrt(2f))])]);
            return _g.Node("Mul", [_g.Node("Mul", [x, _g.Node("Add", [erf, _g.Constant(1f)])]), _g.Constant(0.5f)]);
        }
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        string cube = _g.Node("Mul", [_g.Node("Mul", [x, x]), x]);
        string inner = _g.Node("Mul", [_g.Node("Add", [x, _g.Node("Mul", [cube, _g.Constant(0.044715f)])]), _g.Constant(MathF.Sqrt(2f / MathF.PI))]);
        string tanh = _g.Node("Tanh", [inner]);
        return _g.Node("Mul", [_g.Node("Mul", [x, _g.Node("Add", [tanh, _g.Constant(1f)])]), _g.Constant(0.5f)]);
    }

    private string Weight(string name)
    {
        var e = _layout[name];
        return _g.Weight(name, _values.AsSpan(e.Offset, e.Length), e.Shape.Select(s => (long)s).ToArray());
    }

    /// <summary>A PyTorch Linear weight [out, in] as MatMul's B, [in, out].</summary>
    private string TransposedWeight(string name)
    {
        var e = _layout[name];
        int rows = e.Shape[0], cols = e.Shape[1];
        var src = _values.AsSpan(e.Offset, e.Length);
        var t = new float[e.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = src[r * cols + c];
        return _g.Weight(name, t, cols, rows);
    }
}
