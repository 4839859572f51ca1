using BertSharp.Files;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.IO;

/// <summary>
/// A model as a folder on disk, in the layout HuggingFace's <c>from_pretrained</c> reads:
/// <c>config.json</c>, <c>model.safetensors</c>, <c>vocab.txt</c>, <c>tokenizer_config.json</c>, <c>special_tokens_map.json</c>.
/// <see cref="Save"/> writes it so that <c>BertForPreTraining.from_pretrained</c> (or <c>BertForSequenceClassification</c>
/// when a classifier is present) and <c>BertTokenizer.from_pretrained</c> load it unchanged; it is also our own
/// checkpoint format when written in float32 (<see cref="Checkpoint.LoadParameters"/> reads the config and tensors).
/// <see cref="WeightsDtype"/> chooses float32, bfloat16 or float16 weights for HF.
/// <see cref="Load"/> reads our checkpoints and published BERT folders alike (see <see cref="HuggingFaceNames"/>).
///
/// Tied weights: HF's BertForPreTraining ties <c>cls.predictions.decoder.weight</c> to the word embeddings and
/// <c>cls.predictions.decoder.bias</c> to <c>cls.predictions.bias</c> (its <c>_tied_weights_keys</c>); its
/// safetensors <c>save_pretrained</c> stores each shared tensor once, under the embedding/bias name, and ties the
/// decoder again on load. We do the same: the decoder names are never written; on reading they are accepted only
/// when they equal the tensor they are tied to.
/// </summary>
public sealed class ModelFolder
{
    /// <summary>File names of the model folder.</summary>
    public const string ConfigFile = "config.json", WeightsFile = "model.safetensors", VocabFile = "vocab.txt";
    /// <summary>File names of the tokenizer's settings.</summary>
    public const string TokenizerConfigFile = "tokenizer_config.json", SpecialTokensFile = "special_tokens_map.json";

    /// <summary>Parameters (and config) of the model.</summary>
    public required BertParameters Parameters { get; init; }
    /// <summary>The WordPiece vocabulary (vocab.txt); null when the folder has none.</summary>
    public Vocabulary? Vocabulary { get; set; }
    /// <summary>The tokenizer's casing (HF's <c>do_lower_case</c>; true = uncased).</summary>
    public bool LowerCase { get; set; } = true;
    /// <summary>The folders this model was read from (the checkpoint, its run folder): <see cref="Save"/> refuses to
    /// write onto, into or around them, so <c>--force</c> never deletes the model being saved.</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];
    /// <summary>The element type <see cref="Save"/> writes the weights in (<c>model.safetensors</c>' dtype and config.json's
    /// <c>torch_dtype</c>): <see cref="IO.WeightsDtype.F32"/> (the default, exact), <see cref="IO.WeightsDtype.BF16"/> or
    /// <see cref="IO.WeightsDtype.F16"/> (round to nearest even; a weight float16 cannot hold is refused). <see cref="Load"/>
    /// widens half-precision weights to float32 exactly and leaves this at F32.</summary>
    public WeightsDtype WeightsDtype { get; set; } = WeightsDtype.F32;
    /// <summary>Writes further files (an ONNX graph) into the folder's temporary copy before it is renamed into place, so
    /// the folder appears whole or not at all; called with the temporary folder's path.</summary>
    public Action<string>? WriteExtraFiles { get; set; }
    /// <summary>The casing of the tokenizer.json <see cref="Load"/> read the vocabulary from (null: it read vocab.txt).</summary>
    public bool? TokenizerJsonLowerCase { get; private set; }
    /// <summary>The classifier's labels (HF's <c>id2label</c>), or null when the model has no classifier head.</summary>
    public IReadOnlyList<string>? Labels => Parameters.Labels;
    /// <summary>What <see cref="Load"/> had to do to read the folder (renamed, converted or initialised tensors).</summary>
    public List<string> Notes { get; } = new();

    /// <summary>The model's hyper-parameters.</summary>
    public BertConfig Config => Parameters.Config;

    /// <summary>Reads a model folder: ours, one exported by HF's <c>save_pretrained</c>, or a published BERT.
    /// <paramref name="requireVocab"/>: a missing vocab.txt is an error (false: <see cref="Vocabulary"/> stays null).
    /// <paramref name="initSeed"/> seeds the tensors a folder may lack (the pooler and pretraining heads of a bare BertModel).</summary>
    public static ModelFolder Load(string folder, bool requireVocab = true, ulong initSeed = 0x5EED)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: model folder not found");
        string configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: config.json not found (not a model folder)", configPath);
        string json = File.ReadAllText(configPath);
        var labels = ReadConfigExtras(json, configPath);
        var config = BertConfig.FromJson(json, configPath);
        config.Architectures = [labels is null ? "BertForPreTraining" : "BertForSequenceClassification"];

        string weights = Path.Combine(folder, WeightsFile);
        if (!File.Exists(weights))
        {
            string? other = new[] { "model.safetensors.index.json", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack" }
                .FirstOrDefault(f => File.Exists(Path.Combine(folder, f)));
            throw new FileNotFoundException(other switch
            {
                null => $"{weights}: not found (the weights must be in model.safetensors)",
                "model.safetensors.index.json" => $"{folder}: sharded safetensors checkpoints are not supported (need a single model.safetensors)",
                _ => $"{folder}: only model.safetensors is read, found {other} (convert it with HF's save_pretrained(..., safe_serialization=True))",
            }, weights);
        }

        var parameters = new BertParameters(config, HuggingFaceNames.ClassifierLabels(weights, config.HiddenSize, labels));
        parameters.Initialize(initSeed);
        var result = new ModelFolder { Parameters = parameters };
        HuggingFaceNames.ReadWeights(weights, parameters, result.Notes);

        string vocabPath = Path.Combine(folder, VocabFile);
        if (File.Exists(vocabPath))
        {
            var vocab = Vocabulary.Load(vocabPath);
            if (vocab.Count > config.VocabSize)
                throw new InvalidDataException($"{vocabPath}: {vocab.Count} tokens but the model's vocab_size is {config.VocabSize}");
            if (vocab.Count < config.VocabSize)
                result.Notes.Add($"vocab.txt has {vocab.Count} tokens, fewer than vocab_size {config.VocabSize} (the extra rows are never used)");
            result.Vocabulary = vocab;
        }
        else if (File.Exists(Path.Combine(folder, TokenizerJson.FileName)))
        {
            // No vocab.txt: Hugging Face's fast-tokenizer file holds the same vocabulary (and the casing).
            var (vocab, lowerCase, _) = TokenizerJson.Read(Path.Combine(folder, TokenizerJson.FileName));
            if (vocab.Count > config.VocabSize)
                throw new InvalidDataException($"{Path.Combine(folder, TokenizerJson.FileName)}: {vocab.Count} tokens but the model's vocab_size is {config.VocabSize}");
            result.Vocabulary = vocab;
            result.LowerCase = lowerCase;
            result.TokenizerJsonLowerCase = lowerCase;
            result.Notes.Add("read the vocabulary from tokenizer.json (no vocab.txt)");
        }
        else if (requireVocab)
            throw new FileNotFoundException($"{vocabPath}: vocabulary not found (a model folder needs its vocab.txt or tokenizer.json)", vocabPath);

        string tokConfig = Path.Combine(folder, TokenizerConfigFile);
        if (File.Exists(tokConfig)) result.LowerCase = ReadLowerCase(tokConfig);
        return result;
    }

    /// <summary>Checks the HF fields we cannot honour and returns the labels of a classification config (null otherwise).</summary>
    internal static string[]? ReadConfigExtras(string json, string path)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (root is not JsonObject o) throw new InvalidDataException($"{path}: not a JSON object");
        string? Str(string key) => o[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        bool Flag(string key) => o[key] is JsonValue v && v.TryGetValue(out bool b) && b;

        if (Str("model_type") is { } mt && mt != "bert")
            throw new InvalidDataException($"{path}: model_type '{mt}' is not supported (only 'bert')");
        if (Str("position_embedding_type") is { } pe && pe != "absolute")
            throw new InvalidDataException($"{path}: position_embedding_type '{pe}' is not supported (only 'absolute')");
        if (Flag("is_decoder") || Flag("add_cross_attention"))
            throw new InvalidDataException($"{path}: decoder / cross-attention BERT configurations are not supported");
        if (o["tie_word_embeddings"] is JsonValue tv && tv.TryGetValue(out bool tie) && !tie)
            throw new InvalidDataException($"{path}: tie_word_embeddings is false; only a decoder tied to the word embeddings is supported");

        if (o["id2label"] is JsonObject id2label)
        {
            var labels = new string[id2label.Count];
            foreach (var (k, v) in id2label)
            {
                if (!int.TryParse(k, out int id) || id < 0 || id >= labels.Length || labels[id] is not null)
                    throw new InvalidDataException($"{path}: id2label key '{k}' is not an id in [0, {labels.Length})");
                labels[id] = v is JsonValue lv && lv.TryGetValue(out string? s) ? s : throw new InvalidDataException($"{path}: id2label[{k}] is not a string");
            }
            // HF writes a default {"0": "LABEL_0", "1": "LABEL_1"} into every config; only a classifier's config uses it.
            bool isClassifier = o["architectures"] is JsonArray a && a.Any(x => x is JsonValue xv && xv.TryGetValue(out string? s) && s.EndsWith("ForSequenceClassification", StringComparison.Ordinal));
            return isClassifier ? labels : null;
        }
        if (o["architectures"] is JsonArray arch && arch.Any(x => x is JsonValue xv && xv.TryGetValue(out string? s) && s == "BertForSequenceClassification"))
        {
            int n = o["num_labels"] is JsonValue nv && nv.TryGetValue(out int nl) ? nl : 2;
            return Enumerable.Range(0, n).Select(i => $"LABEL_{i}").ToArray();
        }
        return null;
    }

    /// <summary>HF's tokenizer_config.json: <c>do_lower_case</c> (true when absent, HF's default).</summary>
    public static bool ReadLowerCase(string path)
    {
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object");
            if (o["tokenizer_class"] is JsonValue tc && tc.TryGetValue(out string? cls)
                && cls is not ("BertTokenizer" or "BertTokenizerFast" or "DistilBertTokenizer" or "DistilBertTokenizerFast"))
                throw new InvalidDataException($"{path}: tokenizer_class '{cls}' is not a WordPiece BERT tokenizer");
            return o["do_lower_case"] is JsonValue v && v.TryGetValue(out bool b) ? b : true;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    /// <summary>Writes the folder (to a temporary sibling, then renamed into place; an existing folder is replaced
    /// only when <paramref name="overwrite"/>). A vocabulary is required: HF's tokenizer cannot load without it.</summary>
    public void Save(string folder, bool overwrite = false)
    {
        if (Vocabulary is null) throw new InvalidOperationException($"{folder}: no vocabulary to write (vocab.txt is required)");
        if (Vocabulary.Count > Config.VocabSize)
            throw new ArgumentException($"{folder}: the vocabulary has {Vocabulary.Count} tokens but vocab_size is {Config.VocabSize}");
        // The output-safety rule: never over the folders the model was read from, a device or a link; replace only when asked.
        OutputPaths.Check(folder, nameof(folder), folder: true, overwrite, "overwrite: true", [.. Sources]);
        string full = Path.GetFullPath(folder.TrimEnd('/', '\\'));
        // Converted before anything is written: a weight the dtype cannot hold is refused with nothing left behind.
        var weights = Checkpoint.ModelTensors(Parameters, WeightsDtype, folder);
        string parent = Path.GetDirectoryName(full)!;
        string tmp = Path.Combine(parent, "." + Path.GetFileName(full) + ".tmp-" + Environment.ProcessId);
        var created = CreatedFolders.Missing(parent);
        try
        {
            Directory.CreateDirectory(parent);
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            Directory.CreateDirectory(tmp);
            WriteFiles(tmp, weights, null);
            AtomicFolder.Replace(tmp, full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Disk full, a read-only folder, any I/O failure: one line with the path; nothing half-written is left.
            AtomicFolder.TryDelete(tmp);
            CreatedFolders.RemoveEmpty(created);
            throw new BertSharpException($"{folder}: cannot write the model folder ({e.Message})", ErrorKind.BadInput, e);
        }
    }

    /// <summary>The files of a model folder, in the order they are written.</summary>
    public static readonly IReadOnlyList<string> FileNames = [ConfigFile, WeightsFile, VocabFile, TokenizerConfigFile, SpecialTokensFile];

    /// <summary>Writes the model's files into the existing folder <paramref name="folder"/>, each through a temporary file
    /// and a rename, leaving its other files (checkpoints, a lock) as they are: a folder that must never be without
    /// them, such as a fine-tuning's output, gets its model this way. <paramref name="beforeEach"/> is told each file
    /// just before it is written (a test hook).</summary>
    public void SaveInto(string folder, Action<string>? beforeEach = null)
    {
        if (Vocabulary is null) throw new InvalidOperationException($"{folder}: no vocabulary to write (vocab.txt is required)");
        OutputPaths.Check(folder, nameof(folder), folder: true, replace: true, "", [.. Sources]);
        foreach (var name in FileNames) OutputPaths.RequireWritable(Path.Combine(folder, name), nameof(folder));
        var weights = Checkpoint.ModelTensors(Parameters, WeightsDtype, folder);
        try { WriteFiles(folder, weights, beforeEach); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BertSharpException($"{folder}: cannot write the model ({e.Message})", ErrorKind.BadInput, e);
        }
    }

    private void WriteFiles(string folder, SafeTensorsWriter weights, Action<string>? beforeEach)
    {
        beforeEach?.Invoke(ConfigFile);
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), ConfigJson());
        beforeEach?.Invoke(WeightsFile);
        weights.Save(Path.Combine(folder, WeightsFile));
        beforeEach?.Invoke(VocabFile);
        Vocabulary!.Save(Path.Combine(folder, VocabFile));
        beforeEach?.Invoke(TokenizerConfigFile);
        AtomicFile.WriteAllText(Path.Combine(folder, TokenizerConfigFile), TokenizerConfigJson());
        beforeEach?.Invoke(SpecialTokensFile);
        AtomicFile.WriteAllText(Path.Combine(folder, SpecialTokensFile), SpecialTokensJson());
        beforeEach?.Invoke(TokenizerJson.FileName);
        AtomicFile.WriteAllText(Path.Combine(folder, TokenizerJson.FileName), TokenizerJson.Create(Vocabulary!, LowerCase, Config.MaxPositionEmbeddings));
        WriteExtraFiles?.Invoke(folder);
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Our config plus the fields HF's BertConfig writes that we do not model (fixed values we honour;
    /// <c>torch_dtype</c> names <see cref="WeightsDtype"/>).</summary>
    public string ConfigJson()
    {
        var o = (JsonObject)JsonNode.Parse(Config.ToJson())!;
        o["architectures"] = new JsonArray(Labels is null ? "BertForPreTraining" : "BertForSequenceClassification");
        o["position_embedding_type"] = "absolute";
        o["use_cache"] = true;
        o["classifier_dropout"] = null;
        o["torch_dtype"] = WeightsDtype.TorchName();
        if (Labels is { } labels)
        {
            var id2label = new JsonObject();
            var label2id = new JsonObject();
            for (int i = 0; i < labels.Count; i++)
            {
                id2label[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = labels[i];
                label2id[labels[i]] = i;
            }
            o["id2label"] = id2label;
            o["label2id"] = label2id;
            o["problem_type"] = "single_label_classification";
        }
        return o.ToJsonString(Indented) + "\n";
    }

    /// <summary>tokenizer_config.json for HF's BertTokenizer: casing, special tokens, maximum length.</summary>
    public string TokenizerConfigJson()
    {
        var o = new JsonObject
        {
            ["do_lower_case"] = LowerCase,
            ["strip_accents"] = null,
            ["tokenize_chinese_chars"] = true,
            ["model_max_length"] = Config.MaxPositionEmbeddings,
            ["tokenizer_class"] = "BertTokenizer",
            ["unk_token"] = Text.Vocabulary.Unk,
            ["sep_token"] = Text.Vocabulary.Sep,
            ["pad_token"] = Text.Vocabulary.Pad,
            ["cls_token"] = Text.Vocabulary.Cls,
            ["mask_token"] = Text.Vocabulary.Mask,
            ["clean_up_tokenization_spaces"] = true,
        };
        return o.ToJsonString(Indented) + "\n";
    }

    /// <summary>Writes a minimal tokenizer_config.json into a checkpoint folder (casing and the length trained at), as HF reads it.</summary>
    public static void WriteTokenizerConfig(string folder, bool lowerCase, int maxLength)
    {
        string path = Path.Combine(folder, TokenizerConfigFile);
        var json = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = lowerCase,
            ["model_max_length"] = maxLength,
        };
        AtomicFile.WriteAllText(path, json.ToJsonString(Indented) + "\n");
    }

    /// <summary>special_tokens_map.json: BERT's five special tokens.</summary>
    public static string SpecialTokensJson() => new JsonObject
    {
        ["unk_token"] = Text.Vocabulary.Unk,
        ["sep_token"] = Text.Vocabulary.Sep,
        ["pad_token"] = Text.Vocabulary.Pad,
        ["cls_token"] = Text.Vocabulary.Cls,
        ["mask_token"] = Text.Vocabulary.Mask,
    }.ToJsonString(Indented) + "\n";

}
