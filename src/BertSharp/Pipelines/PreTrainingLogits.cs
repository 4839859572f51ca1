using BertSharp.Files;
using System.Buffers;
using System.Text;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Pipelines;

/// <summary>
/// A batch of token ids as HuggingFace's <c>BertForPreTraining</c> takes them: <see cref="InputIds"/>,
/// <see cref="TokenTypeIds"/> and <see cref="AttentionMask"/>, one row per sequence. <see cref="Source"/> names
/// where the ids came from (a file) in error messages.
/// </summary>
/// <param name="InputIds">Token ids, [B][T].</param>
/// <param name="TokenTypeIds">Segment ids (0 = A, 1 = B), [B][T].</param>
/// <param name="AttentionMask">1 = a token, 0 = padding, [B][T].</param>
/// <param name="Source">What error messages name as the origin of the ids.</param>
public sealed record PreTrainingInputs(int[][] InputIds, int[][] TokenTypeIds, int[][] AttentionMask, string Source = "input")
{
    /// <summary>The ids with HF's defaults for what is left out: token types all 0, attention mask all 1.</summary>
    public static PreTrainingInputs Create(int[][] inputIds, int[][]? tokenTypeIds = null, int[][]? attentionMask = null, string source = "input") =>
        new(inputIds,
            tokenTypeIds ?? inputIds.Select(r => new int[r.Length]).ToArray(),
            attentionMask ?? inputIds.Select(r => Enumerable.Repeat(1, r.Length).ToArray()).ToArray(),
            source);

    /// <summary>Reads <c>{"input_ids": [[...]], "token_type_ids": [[...]], "attention_mask": [[...]]}</c> (the last
    /// two optional). A missing or unreadable file, bad JSON, a missing <c>input_ids</c>, an unknown key or a value
    /// that is not a list of lists of integers is a <see cref="BertSharpException"/> (<see cref="ErrorKind.BadInput"/>).</summary>
    public static PreTrainingInputs Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BertSharpException(e is FileNotFoundException or DirectoryNotFoundException ? $"{path}: no such file" : $"{path}: {e.Message}", ErrorKind.BadInput, e);
        }
        return Parse(bytes, path);
    }

    /// <summary>As <see cref="Load"/>, from UTF-8 JSON text; <paramref name="source"/> is named in errors.</summary>
    public static PreTrainingInputs Parse(ReadOnlyMemory<byte> utf8Json, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(utf8Json); }
        catch (JsonException e) { throw Bad(source, $"not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(source, "expected a JSON object with input_ids");
            int[][]? ids = null, types = null, mask = null;
            foreach (var p in root.EnumerateObject())
                switch (p.Name)
                {
                    case "input_ids": ids = Rows(p.Value, p.Name, source); break;
                    case "token_type_ids": types = Rows(p.Value, p.Name, source); break;
                    case "attention_mask": mask = Rows(p.Value, p.Name, source); break;
                    // A misspelt key would otherwise silently fall back to a default.
                    default: throw Bad(source, $"unknown key '{p.Name}' (expected input_ids, token_type_ids, attention_mask)");
                }
            if (ids is null) throw Bad(source, "input_ids missing");
            return Create(ids, types, mask, source);
        }
    }

    /// <summary>As <see cref="Load"/>, from JSON text; <paramref name="source"/> is named in errors.</summary>
    public static PreTrainingInputs Parse(string json, string source) => Parse(Encoding.UTF8.GetBytes(json), source);

    /// <summary>A list of lists of integers (null: left out).</summary>
    private static int[][]? Rows(JsonElement e, string name, string source)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array) throw Bad(source, $"{name} must be a list of lists of integers");
        var rows = new int[e.GetArrayLength()][];
        int b = 0;
        foreach (var row in e.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array) throw Bad(source, $"{name}[{b}] is not a list (expected a list of lists of integers)");
            var r = rows[b] = new int[row.GetArrayLength()];
            int t = 0;
            foreach (var x in row.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out r[t]))
                    throw Bad(source, $"{name}[{b}][{t}] = {Shorten(x.GetRawText())} is not an integer");
                t++;
            }
            b++;
        }
        return rows;
    }

    private static string Shorten(string s) => s.Length <= 20 ? s : s[..17] + "...";

    internal static BertSharpException Bad(string source, string problem) => new($"{source}: {problem}", ErrorKind.BadInput);
}

/// <summary>
/// The logits of <see cref="PreTrainingLogits.Compute"/>, row-major: <see cref="PredictionLogits"/> is
/// [BatchSize, SeqLength, VocabSize] (MLM, at every position), <see cref="SeqRelationshipLogits"/> is [BatchSize, 2]
/// (NSP: 0 = B follows A, 1 = random) — HF's <c>BertForPreTrainingOutput</c> fields of the same names.
/// </summary>
/// <param name="BatchSize">B, the number of rows.</param>
/// <param name="SeqLength">T, the positions of each row.</param>
/// <param name="VocabSize">V, the logits of each position.</param>
/// <param name="PredictionLogits">MLM logits, [B·T·V] row-major.</param>
/// <param name="SeqRelationshipLogits">NSP logits, [B·2] row-major.</param>
public sealed record PreTrainingLogitsResult(int BatchSize, int SeqLength, int VocabSize, float[] PredictionLogits, float[] SeqRelationshipLogits)
{
    /// <summary>The MLM logits of position <paramref name="t"/> of row <paramref name="b"/> ([VocabSize]).</summary>
    public ReadOnlySpan<float> Prediction(int b, int t) => PredictionLogits.AsSpan(checked((int)(((long)b * SeqLength + t) * VocabSize)), VocabSize);

    /// <summary>Writes <c>{"prediction_logits": [B][T][V], "seq_relationship_logits": [B][2]}</c> and a newline,
    /// streamed, each float in its shortest round-trippable form (parsing it as float32 gives the same value).
    /// A non-finite logit (JSON has no NaN) is a <see cref="BertSharpException"/> before anything is written.</summary>
    public void WriteJson(Stream stream)
    {
        CheckFinite();
        using var w = new Utf8JsonWriter(stream);
        Write(w, () => w.Flush());
        stream.Write("\n"u8);
        stream.Flush();
    }

    /// <summary>As <see cref="WriteJson(Stream)"/>, to a text writer (standard output), in chunks of about 64 KB.</summary>
    public void WriteJson(TextWriter writer)
    {
        CheckFinite();
        var buffer = new ArrayBufferWriter<byte>(1 << 17);
        using var w = new Utf8JsonWriter(buffer);
        // The JSON is ASCII only (key names and numbers), so a chunk never ends inside a character.
        Write(w, () =>
        {
            w.Flush();
            writer.Write(Encoding.ASCII.GetString(buffer.WrittenSpan));
            buffer.ResetWrittenCount();
        });
        writer.Write('\n');
        writer.Flush();
    }

    /// <summary>Writes the JSON to <paramref name="path"/> through a temporary file in the same folder that is then
    /// renamed, so the path never holds a half-written file. An unwritable path is a <see cref="BertSharpException"/>.</summary>
    public void Save(string path)
    {
        CheckFinite();
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new BertSharpException($"{path}: the folder {folder} does not exist", ErrorKind.BadInput);
        // Through AtomicFile: never over a device, pipe or link, no temporary file left by a failure.
        try { AtomicFile.Write(path, WriteJson); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BertSharpException($"{path}: cannot write ({e.Message})", ErrorKind.BadInput, e);
        }
    }

    private void Write(Utf8JsonWriter w, Action flush)
    {
        w.WriteStartObject();
        w.WriteStartArray("prediction_logits");
        for (int b = 0; b < BatchSize; b++)
        {
            w.WriteStartArray();
            for (int t = 0; t < SeqLength; t++)
            {
                w.WriteStartArray();
                foreach (float x in Prediction(b, t)) w.WriteNumberValue(x);
                w.WriteEndArray();
                if (w.BytesPending >= 1 << 16) flush();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteStartArray("seq_relationship_logits");
        for (int b = 0; b < BatchSize; b++)
        {
            w.WriteStartArray();
            w.WriteNumberValue(SeqRelationshipLogits[2 * b]);
            w.WriteNumberValue(SeqRelationshipLogits[2 * b + 1]);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        flush();
    }

    private void CheckFinite()
    {
        int bad = Array.FindIndex(PredictionLogits, x => !float.IsFinite(x));
        if (bad >= 0)
            throw new BertSharpException($"prediction_logits[{bad / VocabSize / SeqLength}][{bad / VocabSize % SeqLength}][{bad % VocabSize}] = {PredictionLogits[bad]}: JSON cannot hold a non-finite number (are the weights finite?)", ErrorKind.BadCheckpoint);
        bad = Array.FindIndex(SeqRelationshipLogits, x => !float.IsFinite(x));
        if (bad >= 0)
            throw new BertSharpException($"seq_relationship_logits[{bad / 2}][{bad % 2}] = {SeqRelationshipLogits[bad]}: JSON cannot hold a non-finite number (are the weights finite?)", ErrorKind.BadCheckpoint);
    }
}

/// <summary>
/// The raw outputs of the pretraining heads — what HF's <c>BertForPreTraining(input_ids, token_type_ids,
/// attention_mask)</c> returns as <c>prediction_logits</c> and <c>seq_relationship_logits</c> — in evaluation mode
/// (no dropout), MLM logits at every position, padded ones included. Meant for comparing this implementation with
/// any other number for number. Not thread-safe: one instance computes one batch at a time (it keeps the model's
/// buffers between calls).
/// </summary>
public sealed class PreTrainingLogits
{
    // Compute is this file's one contact with the model: the heads' logits buffers, copied to the host.
    private readonly BertForPreTraining _model;

    /// <summary>A calculator over <paramref name="parameters"/> (read, never changed; the config is theirs).</summary>
    public PreTrainingLogits(BertParameters parameters) => _model = new BertForPreTraining(parameters);

    /// <summary>The model's configuration.</summary>
    public BertConfig Config => _model.Config;

    /// <summary>Runs the model on <paramref name="inputs"/>. Rows of different lengths, three arrays of different
    /// shapes, an empty batch, more positions than <c>max_position_embeddings</c>, an id outside the vocabulary, a
    /// token type outside <c>type_vocab_size</c> or a mask value other than 0/1 is a <see cref="BertSharpException"/>
    /// (<see cref="ErrorKind.BadInput"/>) naming <see cref="PreTrainingInputs.Source"/> and the entry.</summary>
    public PreTrainingLogitsResult Compute(PreTrainingInputs inputs)
    {
        var c = Config;
        var batch = ToBatch(inputs, c);
        int n = batch.BatchSize * batch.SeqLength;
        // Every position of every row is a "masked" position of weight 0 (id 0): the MLM head scores all of them
        // and no loss is counted. Its logits buffer then holds transformed · Eᵀ + cls.predictions.bias, the bias
        // added once, by the fused bias + cross-entropy kernel, which adds it to every row, weight-0 rows included.
        for (int i = 0; i < n; i++) batch.MaskedLmPositions[i] = i % batch.SeqLength;
        _model.Forward(batch, DropoutContext.Off);
        return new PreTrainingLogitsResult(batch.BatchSize, batch.SeqLength, c.VocabSize, 
            _model.Device.ToArray(_model.Heads.MlmLogits), _model.Device.ToArray(_model.Heads.NspLogits));
    }

    /// <summary>The checked ids in a batch with one prediction slot per position (NSP labels 0: unused).</summary>
    private static BertBatch ToBatch(PreTrainingInputs inputs, BertConfig c)
    {
        string src = inputs.Source;
        int batch = inputs.InputIds.Length;
        if (batch == 0) throw PreTrainingInputs.Bad(src, "input_ids has no rows");
        int seq = inputs.InputIds[0].Length;
        if (seq == 0) throw PreTrainingInputs.Bad(src, "input_ids[0] is empty");
        if (seq > c.MaxPositionEmbeddings)
            throw PreTrainingInputs.Bad(src, $"rows of {seq} tokens, but the model has max_position_embeddings {c.MaxPositionEmbeddings}");
        if ((long)batch * seq * c.VocabSize > Array.MaxLength)
            throw PreTrainingInputs.Bad(src, $"{batch} x {seq} positions x {c.VocabSize} logits are too many for one batch (split it)");
        var b = new BertBatch(batch, seq, seq);
        Flat(inputs.InputIds, "input_ids", b.InputIds, batch, seq, src, c.VocabSize, $"outside the vocabulary (vocab_size {c.VocabSize})");
        Flat(inputs.TokenTypeIds, "token_type_ids", b.TokenTypeIds, batch, seq, src, c.TypeVocabSize, $"outside [0, {c.TypeVocabSize}) (type_vocab_size)");
        Flat(inputs.AttentionMask, "attention_mask", b.AttentionMask, batch, seq, src, 2, "not 0 or 1");
        return b;
    }

    private static void Flat(int[][] rows, string name, int[] flat, int batch, int seq, string src, int limit, string outside)
    {
        if (rows.Length != batch) throw PreTrainingInputs.Bad(src, $"{name} has {rows.Length} rows, input_ids has {batch}");
        for (int b = 0; b < batch; b++)
        {
            if (rows[b].Length != seq)
                throw PreTrainingInputs.Bad(src, $"{name}[{b}] has {rows[b].Length} values, input_ids[0] has {seq} (all rows must be the same length: pad them)");
            for (int t = 0; t < seq; t++)
            {
                int x = rows[b][t];
                if ((uint)x >= (uint)limit) throw PreTrainingInputs.Bad(src, $"{name}[{b}][{t}] = {x} is {outside}");
                flat[b * seq + t] = x;
            }
        }
    }
}
