using System.CommandLine;
using System.Text;

namespace BertSharp.Cli;

/// <summary>
/// The one table from the library's request and options properties to this command line's flags. The library's errors
/// name properties (<c>LearningRate: must be positive, got -1</c>, the names in <see cref="BertSharpException.Properties"/>);
/// the user reads them with the flags they typed (<c>--lr: must be positive, got -1</c>).
/// </summary>
public static class FlagNames
{
    /// <summary>Each property's flag, whichever request or options type it belongs to (the same name means the same flag).</summary>
    public static readonly IReadOnlyDictionary<string, string> Table = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // PretrainingRequest
        ["Corpus"] = "--corpus", ["Format"] = "--format", ["ImdbArchive"] = "--imdb-archive", ["Preset"] = "--preset",
        ["ConfigPath"] = "--config", ["RepeatOf"] = "--config", ["Dropout"] = "--dropout", ["VocabSize"] = "--vocab-size",
        ["Cased"] = "--cased", ["SeqLength"] = "--seq-length", ["BatchSize"] = "--batch-size", ["GradAccum"] = "--grad-accum",
        ["LearningRate"] = "--lr", ["Warmup"] = "--warmup", ["Schedule"] = "--schedule", ["Steps"] = "--steps", ["Epochs"] = "--epochs",
        ["EvalEvery"] = "--eval-every", ["EvalBatches"] = "--eval-batches", ["CheckpointEvery"] = "--checkpoint-every", ["Seed"] = "--seed",
        ["InitFrom"] = "--init-from", ["CopyPositions"] = "--copy-positions", ["RunDir"] = "--run-dir", ["Name"] = "--name", ["Resume"] = "--resume",
        ["Teacher"] = "--teacher", ["AlphaSoft"] = "--alpha-soft", ["AlphaMlm"] = "--alpha-mlm", ["AlphaNsp"] = "--alpha-nsp",
        ["AlphaCos"] = "--alpha-cos", // and Temperature, DistillationRequest's too (below)
        // FineTuningRequest (and its FineTuningRecipe)
        ["OutputDir"] = "--out", ["Force"] = "--force", ["Model"] = "--model", ["RandomInit"] = "--random-init", ["VocabPath"] = "--vocab",
        ["Data"] = "--data", ["EvalData"] = "--eval-data", ["EvalFraction"] = "--eval-fraction", ["MaxTrain"] = "--max-train",
        ["MaxEval"] = "--max-eval", ["MaxLength"] = "--max-length", ["HeadTokens"] = "--head-tokens", ["EvalBatchSize"] = "--eval-batch-size",
        ["WarmupRatio"] = "--warmup-ratio", ["WeightDecay"] = "--weight-decay", ["GroupByLength"] = "--group-by-length",
        ["EarlyStoppingPatience"] = "--early-stopping", ["LogEvery"] = "--log-every",
        // DistillationRequest (Temperature: PretrainingRequest's too)
        ["Student"] = "--student", ["TeacherLayers"] = "--teacher-layers", ["Temperature"] = "--temperature", ["Alpha"] = "--alpha",
        // The runs' ReportTo, the device, VocabularyTrainingOptions, OnnxExportOptions
        ["ReportTo"] = "--report-to", ["Device"] = "--device", ["Precision"] = "--precision",
        ["MinFrequency"] = "--min-frequency", ["LimitAlphabet"] = "--limit-alphabet", ["Task"] = "--task", ["Dtype"] = "--dtype",
    };

    /// <summary>The message of <paramref name="e"/> as this command line says it: each property it names becomes its flag
    /// when <paramref name="command"/> has that flag; a property the command has no flag for (a run.json setting such as
    /// <c>MinFrequency</c>, repeated from another run) is said as run.json spells it (<c>min_frequency</c>); a name that is
    /// no property (a flag or parameter a caller passed) stays as it is.</summary>
    public static string Say(BertSharpException e, Command? command) => e.MessageNaming(property => Flag(property, command));

    /// <summary>How the user of <paramref name="command"/> names <paramref name="property"/>.</summary>
    public static string Flag(string property, Command? command)
    {
        if (Table.TryGetValue(property, out var flag) && (command is null || HasOption(command, flag))) return flag;
        // A property without a flag here (MaskedLmProb, MaxGradNorm): its run.json spelling; a parameter's name as it is.
        return property.Length > 0 && char.IsUpper(property[0]) && property.All(char.IsLetterOrDigit) ? SnakeCase(property) : property;
    }

    private static bool HasOption(Command command, string flag) =>
        command.Options.Any(o => o.Name == flag || o.Aliases.Contains(flag));

    private static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}
