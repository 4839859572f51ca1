using BertSharp.Tensors;
namespace BertSharp.Model;

/// <summary>One named tensor inside a flat buffer: its HuggingFace name, where it starts, its shape,
/// and whether AdamW decays it (biases and LayerNorm parameters are not decayed).</summary>
public sealed record ParameterInfo(string Name, int Offset, int[] Shape, bool Decay)
{
    public int Length { get; } = Shape.Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Where every parameter of <c>BertForPreTraining</c> lives in one flat float buffer (llm.c style). The
/// same layout indexes the gradients and both AdamW moments. All decayed tensors come first and all
/// non-decayed ones after <see cref="DecayLength"/>, so the optimiser is two kernel calls. The query, key
/// and value weights are adjacent ([3H, H]) and so are their biases ([3H]), so Q, K and V are one GEMM.
/// Every tensor starts on a 64-byte boundary; the gaps stay zero in every buffer.
/// The MLM decoder is tied to <c>bert.embeddings.word_embeddings.weight</c> and has no entry of its own.
/// </summary>
public sealed class BertParameterLayout
{
    private const int Align = 16; // floats
    private readonly Dictionary<string, ParameterInfo> _byName = new(StringComparer.Ordinal);
    private readonly List<ParameterInfo> _entries = new();
    private int _next;

    public BertConfig Config { get; }
    public IReadOnlyList<ParameterInfo> Entries => _entries;
    /// <summary>Floats in the buffer (including alignment gaps).</summary>
    public int Length { get; private set; }
    /// <summary>[0, DecayLength) holds the decayed tensors, [DecayLength, Length) the others.</summary>
    public int DecayLength { get; private set; }
    /// <summary>Number of real parameters (without gaps).</summary>
    public long ParameterCount => _entries.Sum(e => (long)e.Length);

    public BertParameterLayout(BertConfig config)
    {
        Config = config;
        int h = config.HiddenSize, inter = config.IntermediateSize;
        // Decayed: embeddings and weight matrices.
        Add("bert.embeddings.word_embeddings.weight", true, config.VocabSize, h);
        Add("bert.embeddings.position_embeddings.weight", true, config.MaxPositionEmbeddings, h);
        Add("bert.embeddings.token_type_embeddings.weight", true, config.TypeVocabSize, h);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"bert.encoder.layer.{i}.";
            Put(p + "attention.self.query.weight", true, [h, h], pad: false);
            Put(p + "attention.self.key.weight", true, [h, h], pad: false);
            Add(p + "attention.self.value.weight", true, h, h);
            Add(p + "attention.output.dense.weight", true, h, h);
            Add(p + "intermediate.dense.weight", true, inter, h);
            Add(p + "output.dense.weight", true, h, inter);
        }
        Add("bert.pooler.dense.weight", true, h, h);
        Add("cls.predictions.transform.dense.weight", true, h, h);
        Add("cls.seq_relationship.weight", true, 2, h);
        DecayLength = _next;
        // Not decayed: biases and LayerNorm.
        Add("bert.embeddings.LayerNorm.weight", false, h);
        Add("bert.embeddings.LayerNorm.bias", false, h);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"bert.encoder.layer.{i}.";
            Put(p + "attention.self.query.bias", false, [h], pad: false);
            Put(p + "attention.self.key.bias", false, [h], pad: false);
            Add(p + "attention.self.value.bias", false, h);
            Add(p + "attention.output.dense.bias", false, h);
            Add(p + "attention.output.LayerNorm.weight", false, h);
            Add(p + "attention.output.LayerNorm.bias", false, h);
            Add(p + "intermediate.dense.bias", false, inter);
            Add(p + "output.dense.bias", false, h);
            Add(p + "output.LayerNorm.weight", false, h);
            Add(p + "output.LayerNorm.bias", false, h);
        }
        Add("bert.pooler.dense.bias", false, h);
        Add("cls.predictions.bias", false, config.VocabSize);
        Add("cls.predictions.transform.dense.bias", false, h);
        Add("cls.predictions.transform.LayerNorm.weight", false, h);
        Add("cls.predictions.transform.LayerNorm.bias", false, h);
        Add("cls.seq_relationship.bias", false, 2);
        Length = _next;
    }

    private void Add(string name, bool decay, params int[] shape) => Put(name, decay, shape, pad: true);

    private void Put(string name, bool decay, int[] shape, bool pad)
    {
        var info = new ParameterInfo(name, _next, shape, decay);
        _entries.Add(info);
        _byName.Add(name, info);
        _next += info.Length;
        if (pad) _next = (_next + Align - 1) / Align * Align;
    }

    public ParameterInfo this[string name] =>
        _byName.TryGetValue(name, out var info) ? info : throw new KeyNotFoundException($"no parameter named '{name}'");

    public bool TryGet(string name, out ParameterInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>Exact parameter count of a config (the tied decoder counted once), without building a layout.</summary>
    public static long CountParameters(BertConfig c)
    {
        long h = c.HiddenSize, inter = c.IntermediateSize;
        long emb = (c.VocabSize + (long)c.MaxPositionEmbeddings + c.TypeVocabSize) * h + 2 * h;
        long layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h;
        long heads = h * h + h + c.VocabSize + h * h + h + 2 * h + 2 * h + 2;
        return emb + c.NumHiddenLayers * layer + heads;
    }
}

/// <summary>
/// The model's parameters and their gradients: two flat, pinned float buffers sharing
/// <see cref="BertParameterLayout"/>. Views are spans under HuggingFace's names.
/// </summary>
public sealed class BertParameters
{
    public BertParameterLayout Layout { get; }
    public float[] Values { get; }
    public float[] Gradients { get; }

    public BertParameters(BertConfig config)
    {
        config.Validate();
        Layout = new BertParameterLayout(config);
        Values = GC.AllocateArray<float>(Layout.Length, pinned: true);
        Gradients = GC.AllocateArray<float>(Layout.Length, pinned: true);
    }

    public BertConfig Config => Layout.Config;

    public Span<float> Value(string name) { var e = Layout[name]; return Values.AsSpan(e.Offset, e.Length); }
    public Span<float> Gradient(string name) { var e = Layout[name]; return Gradients.AsSpan(e.Offset, e.Length); }

    public void ZeroGradients() => Array.Clear(Gradients);

    /// <summary>
    /// For a model pretrained at sequence length <paramref name="trained"/>: positions from <paramref name="trained"/>
    /// on, which training never reached (they keep their random initialisation), become copies of the trained
    /// ones, position i taking position i mod <paramref name="trained"/> (Longformer's initialisation when it
    /// extended RoBERTa's table, Beltagy et al. 2020). Attention heads that learnt to use relative position then work
    /// at once at the longer lengths, and training goes on from there. Returns the number of rows replaced.
    /// </summary>
    public int CopyPositionEmbeddings(int trained)
    {
        int max = Config.MaxPositionEmbeddings, h = Config.HiddenSize;
        if (trained < 1 || trained > max)
            throw new ArgumentException($"the trained length must be between 1 and the model's max_position_embeddings ({max}), got {trained}");
        var table = Value("bert.embeddings.position_embeddings.weight");
        for (int i = trained; i < max; i++)
            table.Slice(i % trained * h, h).CopyTo(table.Slice(i * h, h));
        return max - trained;
    }

    /// <summary>BERT's initialisation: weights from a normal(0, initializer_range) truncated at two standard
    /// deviations (as TF's truncated_normal), LayerNorm gamma 1 and beta 0, biases 0. Deterministic for a seed
    /// on every platform and .NET version (our own generator, not System.Random).</summary>
    public void Initialize(ulong seed)
    {
        Array.Clear(Values);
        var rng = new SplitMix64(seed);
        float std = Config.InitializerRange;
        foreach (var e in Layout.Entries)
        {
            var v = Values.AsSpan(e.Offset, e.Length);
            if (e.Name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) v.Fill(1f);
            else if (e.Shape.Length == 2)
                for (int i = 0; i < v.Length; i++) v[i] = (float)(std * rng.NextTruncatedNormal(2.0));
            // biases and LayerNorm beta stay 0
        }
    }
}
