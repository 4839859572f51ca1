using System.Text.Json;
using System.Text.Json.Serialization;

namespace BertSharp.Model;

/// <summary>
/// BERT's hyper-parameters under HuggingFace's <c>config.json</c> field names, so a checkpoint's config
/// reads in both. <see cref="Validate"/> is called by everything that builds a model from one.
/// </summary>
public sealed class BertConfig
{
    /// <summary>Token ids are in [0, vocab_size).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 30522;
    /// <summary>H: the width of every hidden state.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; } = 768;
    /// <summary>L: transformer layers in the encoder.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; } = 12;
    /// <summary>NH: attention heads per layer (H must be a multiple of it).</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; set; } = 12;
    /// <summary>I: width of the feed-forward expansion (4H in Google's presets).</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; } = 3072;
    /// <summary><c>gelu</c> = exact erf form (HF's default); <c>gelu_new</c>/<c>gelu_pytorch_tanh</c> = tanh form (Google's).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "gelu";
    /// <summary>Dropout of the embeddings' and every dense layer's output, in [0, 1).</summary>
    [JsonPropertyName("hidden_dropout_prob")] public float HiddenDropoutProb { get; set; } = 0.1f;
    /// <summary>Dropout of the attention probabilities, in [0, 1).</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public float AttentionProbsDropoutProb { get; set; } = 0.1f;
    /// <summary>Longest sequence the position embeddings cover.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; set; } = 512;
    /// <summary>Segment ids are in [0, type_vocab_size) (2: sentence A and B).</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; set; } = 2;
    /// <summary>ε added to the variance in every LayerNorm.</summary>
    [JsonPropertyName("layer_norm_eps")] public float LayerNormEps { get; set; } = 1e-12f;
    /// <summary>Standard deviation of the truncated-normal initial weights.</summary>
    [JsonPropertyName("initializer_range")] public float InitializerRange { get; set; } = 0.02f;
    /// <summary>Id of [PAD] (written for HuggingFace; padding is masked by the attention mask, not by this id).</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; set; }
    /// <summary>Always <c>bert</c> (HuggingFace reads it to pick the model class).</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "bert";
    /// <summary>HuggingFace's model classes for this checkpoint, written as is.</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; set; } = ["BertForPreTraining"];

    /// <summary>D = H / NH, the width of one attention head.</summary>
    [JsonIgnore] public int HeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>True for the tanh approximation of GELU.</summary>
    [JsonIgnore] public bool UsesTanhGelu => HiddenAct is "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast";

    /// <summary>Names accepted by <see cref="FromPreset"/>: Google's smaller BERTs (Turc et al.) and BERT-base.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "mini", "small", "medium", "base"];

    /// <summary>Google's BERT family: intermediate 4H, 512 positions, head size 64.</summary>
    public static BertConfig FromPreset(string name, int vocabSize = 30522)
    {
        (int layers, int hidden) = name.ToLowerInvariant() switch
        {
            "tiny" => (2, 128),
            "mini" => (4, 256),
            "small" => (4, 512),
            "medium" => (8, 512),
            "base" => (12, 768),
            _ => throw new ArgumentException($"preset: unknown model preset '{name}' (expected one of {string.Join(", ", PresetNames)})", nameof(name)),
        };
        var c = new BertConfig
        {
            VocabSize = vocabSize,
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = hidden / 64,
            IntermediateSize = 4 * hidden,
        };
        c.Validate();
        return c;
    }

    private static bool IsDropout(float p) => p >= 0f && p < 1f;

    /// <summary>Sets both dropout probabilities (hidden states and attention weights), as a `--dropout` option does.</summary>
    public void SetDropout(float p)
    {
        if (!IsDropout(p)) throw new ArgumentException($"must be in [0, 1), got {p}");
        (HiddenDropoutProb, AttentionProbsDropoutProb) = (p, p);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that is wrong (prefixed by <paramref name="source"/>,
    /// e.g. the file's path).</summary>
    public void Validate(string source = "config")
    {
        void Positive(int v, string field)
        {
            if (v <= 0) throw new ArgumentException($"{source}: {field} must be positive, got {v}");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        Positive(TypeVocabSize, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (HiddenAct is not ("gelu" or "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
            throw new ArgumentException($"{source}: hidden_act '{HiddenAct}' is not supported (gelu, gelu_new, gelu_pytorch_tanh)");
        if (!IsDropout(HiddenDropoutProb))
            throw new ArgumentException($"{source}: hidden_dropout_prob must be in [0, 1), got {HiddenDropoutProb}");
        if (!IsDropout(AttentionProbsDropoutProb))
            throw new ArgumentException($"{source}: attention_probs_dropout_prob must be in [0, 1), got {AttentionProbsDropoutProb}");
        if (!(LayerNormEps > 0f) || float.IsInfinity(LayerNormEps))
            throw new ArgumentException($"{source}: layer_norm_eps must be positive, got {LayerNormEps}");
        if (!(InitializerRange > 0f) || float.IsInfinity(InitializerRange))
            throw new ArgumentException($"{source}: initializer_range must be positive, got {InitializerRange}");
        if (PadTokenId < 0 || PadTokenId >= VocabSize)
            throw new ArgumentException($"{source}: pad_token_id {PadTokenId} is outside the vocabulary (vocab_size {VocabSize})");
        // Parameters live in float[] buffers, indexed by int.
        long count = BertParameterLayout.CountParameters(this);
        if (count > Array.MaxLength)
            throw new ArgumentException($"{source}: the model has {count} parameters, more than one buffer can hold ({Array.MaxLength})");
    }

    private static readonly JsonSerializerOptions WriteOptions = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions ReadOptions = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>Indented HF-style config.json text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    /// <summary>Parses HF-style JSON (unknown fields ignored) and validates it.</summary>
    public static BertConfig FromJson(string json, string source = "config")
    {
        BertConfig? c;
        try { c = JsonSerializer.Deserialize<BertConfig>(json, ReadOptions); }
        catch (JsonException e) { throw new ArgumentException($"{source}: not a valid BERT config.json ({e.Message})"); }
        if (c is null) throw new ArgumentException($"{source}: not a valid BERT config.json (null)");
        c.Validate(source);
        return c;
    }

    /// <summary>Reads and validates a config.json: <see cref="FileNotFoundException"/> when missing, <see cref="ArgumentException"/> when invalid.</summary>
    public static BertConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config file not found", path);
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Writes to a temporary file then renames, so a crash never leaves half a config.</summary>
    public void Save(string path)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, ToJson() + "\n");
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Multiply-add FLOPs of one pretraining step at <paramref name="batch"/> × <paramref name="seq"/> with
    /// <paramref name="predictions"/> masked positions per row, GEMMs only (forward 2mnk, backward twice that): QKV,
    /// attention output and FFN, attention's two products, the pooler, the gathered MLM head and NSP. What MFU is
    /// measured against, on every device.</summary>
    public double TrainingStepFlops(int batch, int seq, int predictions)
    {
        double n = (double)batch * seq, h = HiddenSize, i = IntermediateSize, t = seq, m = (double)batch * predictions, v = VocabSize;
        double perLayer = 2 * n * h * 3 * h + 2 * n * h * h + 2 * n * h * i * 2   // QKV, attention output, FFN
                        + 2 * 2 * batch * t * t * h;                                // scores and context
        double heads = 2 * m * h * h + 2 * m * h * v + 2 * batch * h * h + 2 * batch * h * 2;
        return 3 * (NumHiddenLayers * perLayer + heads);
    }

    /// <summary>A deep copy (through JSON).</summary>
    public BertConfig Clone() => FromJson(ToJson());
}
