using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Cli.Pretraining;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Cli.Commands;

/// <summary>A model loaded for use: parameters, vocabulary, how text is tokenized, and where it came from.</summary>
public sealed class LoadedCheckpoint
{
    public required string Folder { get; init; }
    /// <summary>The run folder the checkpoint belongs to (null for a checkpoint on its own).</summary>
    public string? RunFolder { get; init; }
    public RunSettings? Run { get; init; }
    public required BertParameters Parameters { get; init; }
    public required Vocabulary Vocabulary { get; init; }
    public required bool LowerCase { get; init; }
    public TrainerState? State { get; init; }
    public BertConfig Config => Parameters.Config;
    /// <summary>Longest input the model was trained on (run.json), else its position table.</summary>
    public int MaxSeqLength => Run?.SeqLength ?? Config.MaxPositionEmbeddings;
    public BertTokenizer CreateTokenizer() => new(Vocabulary, LowerCase);
}

/// <summary>
/// Finds and loads checkpoints for the commands that use a trained model (evaluate, fill-mask, nsp, info,
/// and the fine-tuning commands). A path may be a checkpoint folder (config.json + model.safetensors) or a
/// run folder (its newest checkpoint). Problems become one-line <see cref="UserException"/>s with
/// <see cref="CliRunner.ExitBadCheckpoint"/>.
/// </summary>
public static class CheckpointLoading
{
    public const string CheckpointsFolder = "checkpoints";
    public const string TokenizerConfigFile = "tokenizer_config.json";

    public static bool IsCheckpoint(string dir) =>
        File.Exists(Path.Combine(dir, "config.json")) && File.Exists(Path.Combine(dir, "model.safetensors"));

    public static bool IsRunFolder(string dir) => File.Exists(Path.Combine(dir, RunSettings.FileName));

    /// <summary>The checkpoint folder <paramref name="path"/> names, and its run folder if it is inside one.</summary>
    public static (string Checkpoint, string? Run) Resolve(string path)
    {
        if (File.Exists(path)) throw new UserException($"{path}: expected a checkpoint or run folder, not a file", CliRunner.ExitBadInput);
        if (!Directory.Exists(path)) throw new UserException($"{path}: no such checkpoint or run folder", CliRunner.ExitBadInput);
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        if (IsRunFolder(full) && !IsCheckpoint(full))
        {
            string? latest = Checkpoint.Latest(Path.Combine(full, CheckpointsFolder));
            if (latest is null) throw new UserException($"{path}: the run folder holds no checkpoint yet", CliRunner.ExitBadCheckpoint);
            return (latest, full);
        }
        if (!IsCheckpoint(full))
        {
            string? latest = Checkpoint.Latest(full);
            if (latest is not null) return (latest, null);
            throw new UserException($"{path}: not a checkpoint (config.json and model.safetensors missing)", CliRunner.ExitBadCheckpoint);
        }
        // runs/NAME/checkpoints/checkpoint-N
        string? parent = Path.GetDirectoryName(Path.GetDirectoryName(full));
        return (full, parent is not null && IsRunFolder(parent) ? parent : null);
    }

    public static LoadedCheckpoint Load(string path)
    {
        var (folder, run) = Resolve(path);
        try
        {
            var parameters = Checkpoint.LoadParameters(folder);
            string vocabPath = Path.Combine(folder, "vocab.txt");
            if (!File.Exists(vocabPath) && run is not null) vocabPath = Path.Combine(run, "vocab.txt");
            if (!File.Exists(vocabPath)) throw new FileNotFoundException($"{folder}: vocab.txt not found");
            var vocab = Vocabulary.Load(vocabPath);
            if (vocab.Count != parameters.Config.VocabSize)
                throw new InvalidDataException($"{vocabPath}: {vocab.Count} tokens, but config.json says vocab_size {parameters.Config.VocabSize}");
            string statePath = Path.Combine(folder, "trainer_state.json");
            var state = File.Exists(statePath) ? Checkpoint.LoadState(statePath) : null;
            var settings = run is not null ? RunSettings.Load(Path.Combine(run, RunSettings.FileName)) : null;
            return new LoadedCheckpoint
            {
                Folder = folder, RunFolder = run, Run = settings, Parameters = parameters, Vocabulary = vocab,
                LowerCase = ReadLowerCase(folder) ?? settings?.LowerCase ?? true, State = state,
            };
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException
                                      or ArgumentException or EndOfStreamException or JsonException)
        {
            throw new UserException(e.Message.Contains(folder, StringComparison.Ordinal) || e.Message.Contains(Path.GetFileName(folder), StringComparison.Ordinal)
                ? e.Message : $"{folder}: {e.Message}", CliRunner.ExitBadCheckpoint);
        }
    }

    /// <summary>HF's tokenizer_config.json: <c>do_lower_case</c> (null when the file is absent).</summary>
    public static bool? ReadLowerCase(string folder)
    {
        string path = Path.Combine(folder, TokenizerConfigFile);
        if (!File.Exists(path)) return null;
        try { return JsonNode.Parse(File.ReadAllText(path))?["do_lower_case"]?.GetValue<bool>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a valid tokenizer_config.json ({e.Message})");
        }
    }

    /// <summary>Writes tokenizer_config.json next to a checkpoint's vocab.txt (as HF does).</summary>
    public static void WriteTokenizerConfig(string folder, bool lowerCase, int maxLength)
    {
        string path = Path.Combine(folder, TokenizerConfigFile);
        var json = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = lowerCase,
            ["model_max_length"] = maxLength,
        };
        File.WriteAllText(path + ".tmp", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
