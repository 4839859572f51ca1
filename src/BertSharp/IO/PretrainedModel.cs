using BertSharp.Tensors;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.IO;

/// <summary>
/// A trained model ready to use: weights, config, vocabulary, tokenizer casing and input length, plus what the
/// folder it came from records (classifier labels, run settings, trainer state). <see cref="Load"/> is the one
/// loader behind every command and pipeline:
/// <code>var model = PretrainedModel.Load("runs/sample");</code>
/// </summary>
public sealed class PretrainedModel
{
    /// <summary>Where a run folder keeps its checkpoints.</summary>
    public const string CheckpointsFolder = "checkpoints";

    private PretrainedModel(string folder, string? runFolder, RunSettings? run, ModelFolder m, Vocabulary vocabulary,
        bool lowerCase, int? tokenizerMaxLength, TrainerState? state)
    {
        Folder = folder;
        RunFolder = runFolder;
        Run = run;
        Parameters = m.Parameters;
        Vocabulary = vocabulary;
        LowerCase = lowerCase;
        State = state;
        Notes = m.Notes;
        int max = Parameters.Config.MaxPositionEmbeddings;
        MaxSeqLength = Math.Min(max, run?.SeqLength ?? tokenizerMaxLength ?? max);
    }

    /// <summary>The checkpoint folder the weights were read from.</summary>
    public string Folder { get; }
    /// <summary>The run folder the checkpoint belongs to (<c>run.json</c> beside <c>checkpoints/</c>); null otherwise.</summary>
    public string? RunFolder { get; }
    /// <summary>The run's settings (<c>run.json</c>) when the checkpoint belongs to a run folder.</summary>
    public RunSettings? Run { get; }
    /// <summary>The weights (encoder, pooler, pretraining heads and, when fine-tuned, the classifier).</summary>
    public BertParameters Parameters { get; private set; }
    /// <summary>The model's shape and hyper-parameters (<c>config.json</c>).</summary>
    public BertConfig Config => Parameters.Config;
    /// <summary>The classifier's labels, by label id, of a fine-tuned model; null when the model has no classifier head.</summary>
    public IReadOnlyList<string>? Labels => Parameters.Labels;
    /// <summary>The WordPiece vocabulary (<c>vocab.txt</c>).</summary>
    public Vocabulary Vocabulary { get; }
    /// <summary>The tokenizer lowercases and strips accents (HF's <c>do_lower_case</c>; true = uncased).</summary>
    public bool LowerCase { get; }
    /// <summary>Longest input in tokens: the run's sequence length, else <c>tokenizer_config.json</c>'s
    /// <c>model_max_length</c>, else the position table; never more than the position table.</summary>
    public int MaxSeqLength { get; }
    /// <summary>The trainer's state (<c>trainer_state.json</c>) when the checkpoint has one.</summary>
    public TrainerState? State { get; }
    /// <summary>What loading had to do besides reading (renamed, widened or initialised tensors); empty for our own checkpoints.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Moves the weights to <paramref name="device"/> (pipelines and models built from this model then run there);
    /// a no-op on the device they are on. Returns this model.</summary>
    public PretrainedModel To(Device device)
    {
        if (device == Parameters.Device) return this;
        var moved = Parameters.To(device);
        if (!device.SharesMemoryWith(Parameters.Device)) Parameters.Dispose();
        Parameters = moved;
        return this;
    }

    /// <summary>A tokenizer with this model's vocabulary and casing.</summary>
    public BertTokenizer CreateTokenizer() => new(Vocabulary, LowerCase);

    /// <summary>The model as a HuggingFace folder to <see cref="ModelFolder.Save"/> (shares the weights).</summary>
    public ModelFolder ToModelFolder() =>
        new() { Parameters = Parameters, Vocabulary = Vocabulary, LowerCase = LowerCase, Sources = RunFolder is null ? [Folder] : [Folder, RunFolder] };

    /// <summary>True when <paramref name="dir"/> holds <c>config.json</c> and <c>model.safetensors</c>.</summary>
    public static bool IsCheckpoint(string dir) =>
        File.Exists(Path.Combine(dir, ModelFolder.ConfigFile)) && File.Exists(Path.Combine(dir, ModelFolder.WeightsFile));

    /// <summary>True when <paramref name="dir"/> is a pretraining run folder (it holds <c>run.json</c>).</summary>
    public static bool IsRunFolder(string dir) => File.Exists(Path.Combine(dir, RunSettings.FileName));

    /// <summary>
    /// Loads a model from <paramref name="path"/>: a checkpoint or HuggingFace folder (<c>config.json</c> +
    /// <c>model.safetensors</c> + <c>vocab.txt</c>), a run folder (its newest checkpoint, with <c>run.json</c>), or a
    /// folder of <c>checkpoint-N</c> folders (the newest). A checkpoint without its own vocabulary or tokenizer
    /// config takes them from its run folder. Every problem is a <see cref="BertSharpException"/> naming the file.
    /// </summary>
    /// <param name="path">The folder to load.</param>
    /// <param name="vocabulary">A vocabulary to use instead of the folder's (for a checkpoint saved without one).</param>
    public static PretrainedModel Load(string path, Vocabulary? vocabulary = null)
    {
        var (folder, runFolder) = Resolve(path);
        try
        {
            var m = ModelFolder.Load(folder, requireVocab: false);
            var run = runFolder is null ? null : RunSettings.Load(Path.Combine(runFolder, RunSettings.FileName));
            var vocab = vocabulary ?? m.Vocabulary ?? RunVocabulary(folder, runFolder, m.Config);
            // Casing: the checkpoint's tokenizer_config.json, else the run's, else run.json, else uncased (HF's default).
            var tokenizer = ReadTokenizerConfig(folder) ?? (runFolder is null ? null : ReadTokenizerConfig(runFolder));
            bool lowerCase = tokenizer?.LowerCase ?? m.TokenizerJsonLowerCase ?? run?.LowerCase ?? true;
            string statePath = Path.Combine(folder, "trainer_state.json");
            var state = File.Exists(statePath) ? Checkpoint.LoadState(statePath) : null;
            return new PretrainedModel(folder, runFolder, run, m, vocab, lowerCase, tokenizer?.MaxLength, state);
        }
        catch (Exception e) when (e is not BertSharpException && (BertSharpException.IsInputProblem(e) || e is IOException))
        {
            // Any I/O failure while reading a model is the model folder's problem (a truncated or unreadable file).
            throw new BertSharpException(e.Message.Contains(folder, StringComparison.Ordinal) ? e.Message : $"{folder}: {e.Message}",
                ErrorKind.BadCheckpoint, e);
        }
    }

    /// <summary>The checkpoint folder <paramref name="path"/> names and its run folder, if it is inside one.</summary>
    public static (string Checkpoint, string? RunFolder) Resolve(string path)
    {
        if (File.Exists(path)) throw new BertSharpException($"{path}: expected a checkpoint, run or model folder, not a file");
        if (!Directory.Exists(path)) throw new BertSharpException($"{path}: no such checkpoint or run folder");
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        // A config.json without model.safetensors is a model folder too: ModelFolder.Load says what is wrong with it.
        bool model = File.Exists(Path.Combine(full, ModelFolder.ConfigFile));
        if (IsRunFolder(full) && !model)
        {
            string? latest = Checkpoint.Latest(Path.Combine(full, CheckpointsFolder));
            if (latest is null) throw new BertSharpException($"{path}: the run folder holds no checkpoint yet", ErrorKind.BadCheckpoint);
            return (latest, full);
        }
        if (!model)
        {
            string? latest = Checkpoint.Latest(full);
            if (latest is not null) return (latest, null);
            throw new BertSharpException($"{path}: not a checkpoint, run or model folder (config.json and model.safetensors missing)",
                ErrorKind.BadCheckpoint);
        }
        // runs/NAME/checkpoints/checkpoint-N
        string? parent = Path.GetDirectoryName(Path.GetDirectoryName(full));
        return (full, parent is not null && IsRunFolder(parent) ? parent : null);
    }

    private static Vocabulary RunVocabulary(string folder, string? runFolder, BertConfig config)
    {
        string? path = runFolder is null ? null : Path.Combine(runFolder, ModelFolder.VocabFile);
        if (path is null || !File.Exists(path))
            throw new BertSharpException($"{Path.Combine(folder, ModelFolder.VocabFile)}: vocabulary not found (a model folder needs its vocab.txt)",
                ErrorKind.BadCheckpoint);
        var vocab = Vocabulary.Load(path);
        if (vocab.Count > config.VocabSize)
            throw new BertSharpException($"{path}: {vocab.Count} tokens but the model's vocab_size is {config.VocabSize}", ErrorKind.BadCheckpoint);
        return vocab;
    }

    /// <summary>HF's <c>tokenizer_config.json</c> in <paramref name="folder"/>: <c>do_lower_case</c> (true when absent)
    /// and <c>model_max_length</c> (null when absent or HF's "no limit" sentinel); null when there is no such file.</summary>
    public static (bool LowerCase, int? MaxLength)? ReadTokenizerConfig(string folder)
    {
        string path = Path.Combine(folder, ModelFolder.TokenizerConfigFile);
        if (!File.Exists(path)) return null;
        bool lower = ModelFolder.ReadLowerCase(path);
        int? max = null;
        try
        {
            // HF writes 1e30 for "no limit": anything that does not fit an int is no limit.
            if (JsonNode.Parse(File.ReadAllText(path))?["model_max_length"] is JsonValue v && v.TryGetValue(out double d) && d >= 1 && d < int.MaxValue)
                max = (int)d;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        return (lower, max);
    }
}
