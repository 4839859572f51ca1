using BertSharp.Files;
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
    /// <c>sample</c> (the bundled corpus), <c>imdb</c>, or the corpus's path.
    [JsonPropertyName("corpus")] public string Corpus { get; set; } = "sample";
    /// <summary>For <c>imdb</c>: a local archive or folder to use instead of downloading; else the corpus file or
    /// folder.</summary>
    [JsonPropertyName("corpus_path")] public string CorpusPath { get; set; } = "";
    /// <c>auto</c>, <c>imdb</c>, <c>text-folder</c>, <c>text-file</c> or <c>jsonl</c> (see <see cref="Text.CorpusFormat"/>).
    [JsonPropertyName("corpus_format")] public string CorpusFormat { get; set; } = "auto";
    /// <summary>Uncased tokenizer (lower-case and strip accents).</summary>
    [JsonPropertyName("lowercase")] public bool LowerCase { get; set; } = true;
    /// <summary>WordPiece vocabulary size to train.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; }
    /// <summary>Least count for a word or piece to enter the vocabulary.</summary>
    [JsonPropertyName("min_frequency")] public int MinFrequency { get; set; } = 2;
    /// <summary>Model preset (<see cref="BertConfig.PresetNames"/>); null for a custom config.</summary>
    [JsonPropertyName("preset")] public string? Preset { get; set; }
    /// <summary>The model's config as resolved (vocab_size included).</summary>
    [JsonPropertyName("model")] public BertConfig Model { get; set; } = new();
    /// <summary>Tokens per row (max_seq_length).</summary>
    [JsonPropertyName("seq_length")] public int SeqLength { get; set; }
    /// <summary>Masked positions per row at most.</summary>
    [JsonPropertyName("max_predictions_per_seq")] public int MaxPredictions { get; set; }
    /// <summary>Fraction of tokens masked.</summary>
    [JsonPropertyName("masked_lm_prob")] public double MaskedLmProb { get; set; } = 0.15;
    /// <summary>Rows per micro-batch.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; set; }
    /// <summary>Micro-batches accumulated per optimiser update.</summary>
    [JsonPropertyName("grad_accum")] public int GradAccum { get; set; } = 1;
    /// <summary>Peak learning rate.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; set; }
    /// <summary>Updates of linear warmup.</summary>
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; set; }
    /// <summary>Decay after warmup: <c>linear</c>, <c>cosine</c> or <c>constant</c>.</summary>
    [JsonPropertyName("schedule")] public string Schedule { get; set; } = "linear";
    /// <summary>AdamW's decoupled weight decay.</summary>
    [JsonPropertyName("weight_decay")] public float WeightDecay { get; set; } = 0.01f;
    /// <summary>Total optimiser updates.</summary>
    [JsonPropertyName("steps")] public int Steps { get; set; }
    /// <summary>Epochs asked for instead of steps (steps derive from them); null when steps were given.</summary>
    [JsonPropertyName("epochs")] public double? Epochs { get; set; }
    /// <summary>Updates between evaluations.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; set; }
    /// <summary>Validation batches per evaluation at most.</summary>
    [JsonPropertyName("eval_batches")] public int EvalBatches { get; set; }
    /// <summary>Updates between checkpoints.</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; set; }
    /// <summary>Newest checkpoints kept; older ones are deleted.</summary>
    [JsonPropertyName("keep_checkpoints")] public int KeepCheckpoints { get; set; } = 3;
    /// <summary>Seed of initialisation, data order, masking and dropout.</summary>
    [JsonPropertyName("seed")] public ulong Seed { get; set; } = 12345;
    /// <summary>Fraction of documents held out for validation.</summary>
    [JsonPropertyName("validation_fraction")] public double ValidationFraction { get; set; }
    /// <summary>The checkpoint whose weights the run started from (--init-from); null for random initialisation.</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; set; }
    /// <summary>With --init-from: positions from this length on started as copies of the first ones (--copy-positions).</summary>
    [JsonPropertyName("copy_positions")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? CopyPositions { get; set; }
    /// <summary>The teacher of pretraining distillation and the objective's weights; null (absent) without one.</summary>
    [JsonPropertyName("teacher")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public TeacherSettings? Teacher { get; set; }

    /// <c>run.json</c>, in the run folder.
    public const string FileName = "run.json";
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    /// <summary>Indented JSON, exactly what <see cref="Save"/> writes.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Writes run.json atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        AtomicFile.WriteAllText(path, ToJson() + "\n");
    }

    /// <summary>Reads run.json and validates its model config; <see cref="BertSharpException"/> (<see
    /// cref="ErrorKind.BadCheckpoint"/>) when missing or invalid.</summary>
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
