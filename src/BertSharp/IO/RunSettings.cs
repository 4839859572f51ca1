using System.Text.Json;
using System.Text.Json.Serialization;
using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// Everything a pretraining run was started with, resolved (defaults filled in): saved as
/// <c>runs/NAME/run.json</c> so that rerunning the same folder continues the same run, and so that
/// <c>evaluate</c>, <c>fill-mask</c> and <c>info</c> know how the model was trained (tokenizer casing, sequence
/// length, validation split).
/// </summary>
public sealed class RunSettings
{
    [JsonPropertyName("corpus")] public string Corpus { get; set; } = "sample";
    [JsonPropertyName("corpus_path")] public string CorpusPath { get; set; } = "";
    [JsonPropertyName("corpus_format")] public string CorpusFormat { get; set; } = "auto";
    [JsonPropertyName("lowercase")] public bool LowerCase { get; set; } = true;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; }
    [JsonPropertyName("min_frequency")] public int MinFrequency { get; set; } = 2;
    [JsonPropertyName("preset")] public string? Preset { get; set; }
    [JsonPropertyName("model")] public BertConfig Model { get; set; } = new();
    [JsonPropertyName("seq_length")] public int SeqLength { get; set; }
    [JsonPropertyName("max_predictions_per_seq")] public int MaxPredictions { get; set; }
    [JsonPropertyName("masked_lm_prob")] public double MaskedLmProb { get; set; } = 0.15;
    [JsonPropertyName("batch_size")] public int BatchSize { get; set; }
    [JsonPropertyName("grad_accum")] public int GradAccum { get; set; } = 1;
    [JsonPropertyName("learning_rate")] public double LearningRate { get; set; }
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; set; }
    [JsonPropertyName("schedule")] public string Schedule { get; set; } = "linear";
    [JsonPropertyName("weight_decay")] public float WeightDecay { get; set; } = 0.01f;
    [JsonPropertyName("steps")] public int Steps { get; set; }
    [JsonPropertyName("epochs")] public double? Epochs { get; set; }
    [JsonPropertyName("eval_every")] public int EvalEvery { get; set; }
    [JsonPropertyName("eval_batches")] public int EvalBatches { get; set; }
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; set; }
    [JsonPropertyName("keep_checkpoints")] public int KeepCheckpoints { get; set; } = 3;
    [JsonPropertyName("seed")] public ulong Seed { get; set; } = 12345;
    [JsonPropertyName("validation_fraction")] public double ValidationFraction { get; set; }
    /// <summary>The checkpoint whose weights the run started from (--init-from); null for random initialisation.</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; set; }
    /// <summary>With --init-from: positions from this length on started as copies of the first ones (--copy-positions).</summary>
    [JsonPropertyName("copy_positions")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? CopyPositions { get; set; }

    public const string FileName = "run.json";
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public void Save(string path)
    {
        File.WriteAllText(path + ".tmp", ToJson() + "\n");
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static RunSettings Load(string path)
    {
        if (!File.Exists(path)) throw new BertSharpException($"{path}: run settings not found", ErrorKind.BadCheckpoint);
        try
        {
            var s = JsonSerializer.Deserialize<RunSettings>(File.ReadAllText(path))
                    ?? throw new JsonException("null");
            s.Model.Validate(path);
            return s;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new BertSharpException($"{path}: not a valid run.json ({e.Message})", ErrorKind.BadCheckpoint);
        }
    }
}
