namespace BertSharp.Model;

/// <summary>
/// Where every parameter lives in one flat float buffer (llm.c style). The same layout indexes the gradients
/// and both AdamW moments. The buffer holds, in this order, the decayed tensors of the trunk and the pretraining
/// heads, their non-decayed tensors, then (when the model has one) the classifier's weight and bias; so
/// pretraining updates two contiguous runs and a task's optimiser step is one kernel call per
/// <see cref="Regions"/> run. The query, key and value weights are adjacent ([3H, H]) and so are their biases
/// ([3H]), so Q, K and V are one GEMM. Every tensor starts on a 64-byte boundary; the gaps stay zero.
/// The MLM decoder is tied to <c>bert.embeddings.word_embeddings.weight</c> and has no entry of its own.
/// </summary>
public sealed class BertParameterLayout
{
    /// <summary>HF names of the classifier head's weight [labels, H] and bias [labels].</summary>
    public const string ClassifierWeight = "classifier.weight", ClassifierBias = "classifier.bias";
    private const int Align = 16; // floats
    private readonly Dictionary<string, ParameterInfo> _byName = new(StringComparer.Ordinal);
    private readonly List<ParameterInfo> _entries = new();
    private readonly List<ParameterRegion> _regions = new();
    private int _next;

    /// <summary>The hyper-parameters the layout was built for.</summary>
    public BertConfig Config { get; }
    /// <summary>Every tensor, in a fixed order (the order <see cref="BertParameters.Initialize"/> draws them in).</summary>
    public IReadOnlyList<ParameterInfo> Entries => _entries;
    /// <summary>Contiguous runs of one group and decay flag, in buffer order.</summary>
    public IReadOnlyList<ParameterRegion> Regions => _regions;
    /// <summary>Floats in the buffer (including alignment gaps).</summary>
    public int Length { get; private set; }
    /// <summary>The classifier's label names (HF's <c>id2label</c>); null when the model has no classifier head.</summary>
    public IReadOnlyList<string>? Labels { get; }
    /// <summary>Number of classifier labels (0 without a classifier head).</summary>
    public int NumLabels => Labels?.Count ?? 0;
    /// <summary>Number of real parameters (without gaps).</summary>
    public long ParameterCount => _entries.Sum(e => (long)e.Length);

    /// <summary>Lays out every tensor of <paramref name="config"/>'s model (trunk, pretraining heads, optional classifier).</summary>
    /// <param name="config">the hyper-parameters</param>
    /// <param name="labels">the classifier's labels (at least 2, distinct), or null for no classifier head</param>
    public BertParameterLayout(BertConfig config, IReadOnlyList<string>? labels = null)
    {
        if (labels is not null)
        {
            if (labels.Count < 2) throw new ArgumentException($"classifier: needs at least 2 labels, got {labels.Count}");
            if (labels.Distinct(StringComparer.Ordinal).Count() != labels.Count)
                throw new ArgumentException($"classifier: duplicate label names ({string.Join(", ", labels)})");
            Labels = labels.ToArray();
        }
        Config = config;
        int h = config.HiddenSize, inter = config.IntermediateSize;
        const ParameterGroups E = ParameterGroups.Encoder, C = ParameterGroups.PreTrainingHeads;
        // Decayed: embeddings and weight matrices.
        Add("bert.embeddings.word_embeddings.weight", true, E, config.VocabSize, h);
        Add("bert.embeddings.position_embeddings.weight", true, E, config.MaxPositionEmbeddings, h);
        Add("bert.embeddings.token_type_embeddings.weight", true, E, config.TypeVocabSize, h);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"bert.encoder.layer.{i}.";
            Put(p + "attention.self.query.weight", true, E, [h, h], pad: false);
            Put(p + "attention.self.key.weight", true, E, [h, h], pad: false);
            Add(p + "attention.self.value.weight", true, E, h, h);
            Add(p + "attention.output.dense.weight", true, E, h, h);
            Add(p + "intermediate.dense.weight", true, E, inter, h);
            Add(p + "output.dense.weight", true, E, h, inter);
        }
        Add("bert.pooler.dense.weight", true, E, h, h);
        Add("cls.predictions.transform.dense.weight", true, C, h, h);
        Add("cls.seq_relationship.weight", true, C, 2, h);
        // Not decayed: biases and LayerNorm.
        Add("bert.embeddings.LayerNorm.weight", false, E, h);
        Add("bert.embeddings.LayerNorm.bias", false, E, h);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"bert.encoder.layer.{i}.";
            Put(p + "attention.self.query.bias", false, E, [h], pad: false);
            Put(p + "attention.self.key.bias", false, E, [h], pad: false);
            Add(p + "attention.self.value.bias", false, E, h);
            Add(p + "attention.output.dense.bias", false, E, h);
            Add(p + "attention.output.LayerNorm.weight", false, E, h);
            Add(p + "attention.output.LayerNorm.bias", false, E, h);
            Add(p + "intermediate.dense.bias", false, E, inter);
            Add(p + "output.dense.bias", false, E, h);
            Add(p + "output.LayerNorm.weight", false, E, h);
            Add(p + "output.LayerNorm.bias", false, E, h);
        }
        Add("bert.pooler.dense.bias", false, E, h);
        Add("cls.predictions.bias", false, C, config.VocabSize);
        Add("cls.predictions.transform.dense.bias", false, C, h);
        Add("cls.predictions.transform.LayerNorm.weight", false, C, h);
        Add("cls.predictions.transform.LayerNorm.bias", false, C, h);
        Add("cls.seq_relationship.bias", false, C, 2);
        if (Labels is not null)
        {
            Add(ClassifierWeight, true, ParameterGroups.Classifier, Labels.Count, h);
            Add(ClassifierBias, false, ParameterGroups.Classifier, Labels.Count);
        }
        Length = _next;
    }

    /// <summary>The runs of <see cref="Regions"/> in <paramref name="groups"/>, adjacent runs merged when
    /// <paramref name="byDecay"/> is false or their decay flags agree.</summary>
    public List<ParameterRegion> RegionsOf(ParameterGroups groups, bool byDecay)
    {
        var result = new List<ParameterRegion>();
        foreach (var r in _regions)
        {
            if ((r.Group & groups) == 0) continue;
            if (result.Count > 0 && result[^1] is var last && last.Offset + last.Length == r.Offset && (!byDecay || last.Decay == r.Decay))
                result[^1] = last with { Group = last.Group | r.Group, Length = last.Length + r.Length };
            else result.Add(r);
        }
        return result;
    }

    private void Add(string name, bool decay, ParameterGroups group, params int[] shape) => Put(name, decay, group, shape, pad: true);

    private void Put(string name, bool decay, ParameterGroups group, int[] shape, bool pad)
    {
        int start = _next;
        var info = new ParameterInfo(name, start, shape, decay, group);
        _entries.Add(info);
        _byName.Add(name, info);
        _next += info.Length;
        if (pad) _next = (_next + Align - 1) / Align * Align;
        // Extend the last run or start a new one (a run includes the alignment gaps after its tensors).
        if (_regions.Count > 0 && _regions[^1] is var last && last.Group == group && last.Decay == decay)
            _regions[^1] = last with { Length = _next - last.Offset };
        else _regions.Add(new ParameterRegion(group, decay, start, _next - start));
    }

    /// <summary>The tensor named <paramref name="name"/> (HF's name, e.g. <c>bert.pooler.dense.weight</c>); throws <see
    /// cref="KeyNotFoundException"/> when there is none.</summary>
    public ParameterInfo this[string name] =>
        _byName.TryGetValue(name, out var info) ? info : throw new KeyNotFoundException($"no parameter named '{name}'");

    /// <summary>Looks up a tensor by HF name without throwing; false when the layout has none of that name.</summary>
    public bool TryGet(string name, out ParameterInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>Exact parameter count of a config's pretraining model (the tied decoder counted once), without building a layout.</summary>
    public static long CountParameters(BertConfig c)
    {
        long h = c.HiddenSize, inter = c.IntermediateSize;
        long emb = (c.VocabSize + (long)c.MaxPositionEmbeddings + c.TypeVocabSize) * h + 2 * h;
        long layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h;
        long heads = h * h + h + c.VocabSize + h * h + h + 2 * h + 2 * h + 2;
        return emb + c.NumHiddenLayers * layer + heads;
    }
}
