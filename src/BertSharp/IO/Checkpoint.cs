using BertSharp.Files;
using BertSharp.Tensors;
using System.Text.Json;
using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// A checkpoint folder as HuggingFace lays it out: <c>config.json</c>, <c>model.safetensors</c> (HF names,
/// float32, the tied decoder stored once as the word embeddings), <c>vocab.txt</c>, <c>optimizer.safetensors</c>
/// (AdamW moments under <c>exp_avg/NAME</c> and <c>exp_avg_sq/NAME</c>), <c>trainer_state.json</c>. A folder is written
/// under a temporary name and renamed when complete, so a crash never leaves half a checkpoint.
/// </summary>
public static class Checkpoint
{
    /// <summary>Checkpoint folders are named <c>checkpoint-STEP</c>.</summary>
    public const string Prefix = "checkpoint-";
    // snake_case keys, as HuggingFace's files (and every other JSON file we write); a non-finite figure in the history
    // (a diverged evaluation) is written as "NaN"/"Infinity", not a crash. Generator names are data, kept as they are.
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DictionaryKeyPolicy = null,
    };
    // trainer_state.json as written before 2026-12 (PascalCase keys): still read.
    private static readonly JsonSerializerOptions LegacyJsonOptions = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Names that are not part of the pretraining model and are skipped: HF's tied decoder and position-id
    /// buffer, and the sequence classifier of a fine-tuned folder (which keeps the MLM and NSP heads, so fill-mask,
    /// nsp and evaluate still work on it).</summary>
    private static readonly HashSet<string> IgnoredNames = new(StringComparer.Ordinal)
    {
        "cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "bert.embeddings.position_ids",
        "classifier.weight", "classifier.bias",
    };

    /// <c>checkpoint-STEP</c> for <paramref name="step"/>.
    public static string FolderName(long step) => $"{Prefix}{step}";

    /// <summary>Writes <c>checkpoint-STEP</c> under <paramref name="outputDir"/> and keeps only the newest
    /// <paramref name="keepLast"/> (0 keeps all) besides <paramref name="keepStep"/>'s. <paramref name="writeExtras"/>
    /// adds files to the folder before it is put in place. Returns the folder.</summary>
    public static string Save(string outputDir, BertParameters parameters, DeviceTensor? expAvg, DeviceTensor? expAvgSq,
        TrainerState state, IReadOnlyList<string>? vocab, int keepLast = 0, long? keepStep = null, Action<string>? writeExtras = null)
    {
        string final = Path.Combine(outputDir, FolderName(state.Step));
        string tmp = Path.Combine(outputDir, "." + FolderName(state.Step) + ".tmp");
        try
        {
            Directory.CreateDirectory(outputDir);
            RemoveLeftovers(outputDir);
            Directory.CreateDirectory(tmp);
            WriteFolder(tmp, parameters, expAvg, expAvgSq, state, vocab, writeExtras);
            if (Directory.Exists(final))
            {
                // The same step again (a rerun): the old folder stays until the new one is in place.
                string old = tmp + ".old";
                Directory.Move(final, old);
                try { Directory.Move(tmp, final); }
                catch { Directory.Move(old, final); throw; }
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(tmp, final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Disk full, a read-only folder, any I/O failure: one line with the path (exit 3), the previous complete
            // checkpoint untouched, no temporary folder left behind.
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new BertSharpException($"{final}: cannot write the checkpoint ({e.Message}); the previous checkpoint is kept", ErrorKind.BadInput, e);
        }
        if (keepLast > 0) Prune(outputDir, keepLast, keepStep);
        return final;
    }

    /// <summary>Temporary checkpoint folders (<c>.checkpoint-N.tmp</c>, <c>.checkpoint-N.tmp.old</c>) that a killed run
    /// left behind: never complete, so never loaded; removed before the next save.</summary>
    private static void RemoveLeftovers(string outputDir)
    {
        foreach (var d in Directory.GetDirectories(outputDir, "." + Prefix + "*.tmp*"))
            Directory.Delete(d, recursive: true);
    }

    private static void WriteFolder(string tmp, BertParameters parameters, DeviceTensor? expAvg, DeviceTensor? expAvgSq,
        TrainerState state, IReadOnlyList<string>? vocab, Action<string>? writeExtras)
    {

        // A classifier's labels go into config.json as HF writes them (id2label), so the checkpoint loads as one.
        if (parameters.Labels is null) parameters.Config.Save(Path.Combine(tmp, "config.json"));
        else WriteText(Path.Combine(tmp, "config.json"), new ModelFolder { Parameters = parameters }.ConfigJson());
        SaveModel(Path.Combine(tmp, "model.safetensors"), parameters);
        if (expAvg is not null && expAvgSq is not null)
        {
            var m = HostCopy(parameters.Device, expAvg);
            var v = HostCopy(parameters.Device, expAvgSq);
            var w = new SafeTensorsWriter();
            foreach (var e in parameters.Layout.Entries)
            {
                w.AddF32("exp_avg/" + e.Name, m.Slice(e.Offset, e.Length), e.Shape);
                w.AddF32("exp_avg_sq/" + e.Name, v.Slice(e.Offset, e.Length), e.Shape);
            }
            w.Save(Path.Combine(tmp, "optimizer.safetensors"));
        }
        if (vocab is not null) WriteText(Path.Combine(tmp, "vocab.txt"), string.Join("\n", vocab) + "\n");
        WriteText(Path.Combine(tmp, "trainer_state.json"), JsonSerializer.Serialize(state, JsonOptions) + "\n");
        writeExtras?.Invoke(tmp);
    }

    private static void WriteText(string path, string text) => AtomicFile.WriteAllText(path, text);

    /// <summary>The host memory of <paramref name="t"/> (no copy on the CPU device), else a host copy.</summary>
    private static Memory<float> HostCopy(Device device, TensorView t)
    {
        if (device.TryGetHostMemory(t, out var memory)) return memory;
        return device.ToArray(t);
    }

    /// <summary>Writes every tensor of <paramref name="parameters"/> (copied to the host) as safetensors under its HF
    /// name, atomically (temporary file, then rename): float32, or <paramref name="dtype"/> for an export
    /// (<see cref="ModelFolder.WeightsDtype"/>; checkpoints are always float32).</summary>
    public static void SaveModel(string path, BertParameters parameters, WeightsDtype dtype = WeightsDtype.F32) =>
        ModelTensors(parameters, dtype, path).Save(path);

    /// <summary>The writer of model.safetensors, every tensor already converted to <paramref name="dtype"/> (so a weight
    /// float16 cannot hold is refused, naming <paramref name="where"/>, before anything is written). Float32 tensors are
    /// not copied: the parameters must stay unchanged until the writer saves.</summary>
    internal static SafeTensorsWriter ModelTensors(BertParameters parameters, WeightsDtype dtype, string where)
    {
        var w = new SafeTensorsWriter();
        w.AddMetadata("format", "pt");
        var values = HostCopy(parameters.Device, parameters.Values);
        foreach (var e in parameters.Layout.Entries)
        {
            var v = values.Slice(e.Offset, e.Length);
            switch (dtype)
            {
                case WeightsDtype.F32: w.AddF32(e.Name, v, e.Shape); break;
                case WeightsDtype.BF16: w.AddBF16(e.Name, WeightsDtypes.Narrow(v.Span, dtype, e.Name, where), e.Shape); break;
                case WeightsDtype.F16: w.AddF16(e.Name, WeightsDtypes.Narrow(v.Span, dtype, e.Name, where), e.Shape); break;
                default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "ModelFolder.WeightsDtype: not F32, BF16 or F16");
            }
        }
        return w;
    }

    /// <summary>Completed checkpoint folders under <paramref name="outputDir"/>, oldest first.</summary>
    public static List<(long Step, string Path)> List(string outputDir)
    {
        var result = new List<(long, string)>();
        if (!Directory.Exists(outputDir)) return result;
        foreach (var d in Directory.GetDirectories(outputDir, Prefix + "*"))
            if (long.TryParse(Path.GetFileName(d).AsSpan(Prefix.Length), out long step)) result.Add((step, d));
        result.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return result;
    }

    /// <summary>The completed checkpoint folder with the highest step under <paramref name="outputDir"/>, or null when
    /// there is none.</summary>
    public static string? Latest(string outputDir) => List(outputDir) is { Count: > 0 } l ? l[^1].Path : null;

    private static void Prune(string outputDir, int keepLast, long? keepStep)
    {
        var all = List(outputDir);
        for (int i = 0; i < all.Count - keepLast; i++)
            if (all[i].Step != keepStep) Directory.Delete(all[i].Path, recursive: true);
    }

    /// <summary>Reads model.safetensors into <paramref name="parameters"/>: every parameter must be present,
    /// F32, with exactly the config's shape; unknown tensors are refused (they mean a different model).</summary>
    public static void LoadModel(string path, BertParameters parameters)
    {
        using var r = new SafeTensorsReader(path);
        // Straight into the parameters when they are host memory, else through one host buffer.
        bool direct = parameters.Device.TryGetHostMemory(parameters.Values, out var values);
        if (!direct) values = new float[parameters.Layout.Length];
        foreach (var e in parameters.Layout.Entries)
        {
            if (!r.Contains(e.Name)) throw new InvalidDataException($"{path}: missing tensor '{e.Name}'");
            if (r.Get(e.Name).Dtype is "BF16" or "F16")
                throw new InvalidDataException($"{path}: tensor '{e.Name}' is {r.Get(e.Name).Dtype}; a checkpoint is float32 "
                    + "(a half-precision export is read by ModelFolder.Load / PretrainedModel.Load, which widen it)");
            r.ReadF32(e.Name, values.Span.Slice(e.Offset, e.Length), e.Shape);
        }
        RequireFinite(path, parameters.Layout, values.Span);
        foreach (var name in r.Tensors.Keys)
            if (!parameters.Layout.TryGet(name, out _) && !IgnoredNames.Contains(name))
                throw new InvalidDataException($"{path}: unexpected tensor '{name}' (not part of this BERT configuration)");
        if (!direct) parameters.CopyFrom(values.Span);
        else parameters.MarkChanged();
    }

    /// <summary>Refuses weights that hold a NaN or an infinity, naming the tensor and the element
    /// (<see cref="ErrorKind.Diverged"/>: a model saved from a diverged run, or a damaged file).</summary>
    public static void RequireFinite(string path, BertParameterLayout layout, ReadOnlySpan<float> values)
    {
        foreach (var e in layout.Entries)
        {
            var t = values.Slice(e.Offset, e.Length);
            for (int i = 0; i < t.Length; i++)
                if (!float.IsFinite(t[i]))
                    throw new BertSharpException($"{path}: tensor '{e.Name}' holds a non-finite value ({t[i]}) at element {i}; "
                        + "the weights are not usable (saved from a diverged run, or a damaged file)", ErrorKind.Diverged);
        }
    }

    /// <summary>Reads the AdamW moments of optimizer.safetensors into <paramref name="expAvg"/> and <paramref name="expAvgSq"/>
    /// (device tensors of the layout's length).</summary>
    public static void LoadOptimizer(string path, BertParameterLayout layout, DeviceTensor expAvg, DeviceTensor expAvgSq)
    {
        using var r = new SafeTensorsReader(path);
        bool direct = expAvg.Device.TryGetHostMemory(expAvg, out var m) & expAvgSq.Device.TryGetHostMemory(expAvgSq, out var v);
        if (!direct) (m, v) = (new float[layout.Length], new float[layout.Length]);
        foreach (var e in layout.Entries)
        {
            foreach (var (prefix, buf) in new[] { ("exp_avg/", m), ("exp_avg_sq/", v) })
            {
                string n = prefix + e.Name;
                if (!r.Contains(n)) throw new InvalidDataException($"{path}: missing tensor '{n}'");
                r.ReadF32(n, buf.Span.Slice(e.Offset, e.Length), e.Shape);
            }
        }
        if (direct) return;
        expAvg.Device.CopyToDevice<float>(m.Span, expAvg);
        expAvgSq.Device.CopyToDevice<float>(v.Span, expAvgSq);
    }

    /// <summary>Reads a trainer_state.json: <see cref="FileNotFoundException"/> when missing, <see
    /// cref="InvalidDataException"/> when not valid JSON of that shape: not an object, or a field missing, of the wrong
    /// type or out of range (a negative counter, a non-finite learning rate; the message names the field).</summary>
    public static TrainerState LoadState(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: trainer state not found", path);
        try
        {
            string text = File.ReadAllText(path);
            if (System.Text.Json.Nodes.JsonNode.Parse(text) is not System.Text.Json.Nodes.JsonObject o)
                throw new InvalidDataException($"{path}: damaged trainer state: not a JSON object");
            bool legacy = o.ContainsKey("Step");
            TrainerStateFields.Check(o, legacy, path);
            return JsonSerializer.Deserialize<TrainerState>(text, legacy ? LegacyJsonOptions : JsonOptions)
                   ?? throw new InvalidDataException($"{path}: empty trainer state");
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid trainer_state.json ({e.Message})"); }
    }

    /// <summary>A classifier's labels from a checkpoint's config.json (HF's id2label), or null for a model without one.</summary>
    public static IReadOnlyList<string>? ReadLabels(string configPath) => ModelFolder.ReadConfigExtras(File.ReadAllText(configPath), configPath);

    /// <summary>Loads config + model from a checkpoint folder onto <paramref name="device"/> (the CPU when null).</summary>
    public static BertParameters LoadParameters(string folder, Device? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: checkpoint folder not found");
        string configPath = Path.Combine(folder, "config.json");
        var config = BertConfig.Load(configPath);
        var p = new BertParameters(config, ReadLabels(configPath), device);
        LoadModel(Path.Combine(folder, "model.safetensors"), p);
        return p;
    }
}
