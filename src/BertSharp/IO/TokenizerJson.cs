using BertSharp.Files;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Text;

namespace BertSharp.IO;

/// <summary>
/// Hugging Face's fast-tokenizer file, <c>tokenizer.json</c>, for a BERT WordPiece vocabulary — what
/// <c>AutoTokenizer</c>, Transformers.js and text-embeddings-inference load: BertNormalizer (clean text, Chinese
/// characters split, lower case and accents stripped exactly when uncased, as our <see cref="BasicTokenizer"/>),
/// BertPreTokenizer, WordPiece with <c>[UNK]</c> and at most 100 characters a word, the [CLS] A [SEP] (B [SEP])
/// template with token types 0/1, right padding with [PAD] to the longest and right truncation at the model's length.
/// <see cref="Read"/> takes the vocabulary and casing back out of such a file (ours or a published BERT's).
/// </summary>
public static class TokenizerJson
{
    /// <summary>The file name.</summary>
    public const string FileName = "tokenizer.json";

    /// <summary>The file's text for <paramref name="vocab"/>, its casing and the longest input (<paramref name="maxLength"/> tokens).</summary>
    public static string Create(Vocabulary vocab, bool lowerCase, int maxLength)
    {
        var ids = vocab.SpecialIds;
        var added = new JsonArray();
        // HF lists the special tokens as added tokens: matched before normalisation, never split.
        foreach (var (id, token) in new[] { (ids.Pad, Vocabulary.Pad), (ids.Unk, Vocabulary.Unk), (ids.Cls, Vocabulary.Cls), (ids.Sep, Vocabulary.Sep), (ids.Mask, Vocabulary.Mask) }.OrderBy(t => t.Item1))
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = token, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
        var vocabObject = new JsonObject();
        for (int i = 0; i < vocab.Count; i++) vocabObject[vocab[i]] = i;
        static JsonObject Special(string token, int type) => new() { ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = type } };
        static JsonObject Sequence(string which, int type) => new() { ["Sequence"] = new JsonObject { ["id"] = which, ["type_id"] = type } };
        static JsonObject SpecialEntry(string token, int id) => new() { ["id"] = token, ["ids"] = new JsonArray(id), ["tokens"] = new JsonArray(token) };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = new JsonObject { ["direction"] = "Right", ["max_length"] = maxLength, ["strategy"] = "LongestFirst", ["stride"] = 0 },
            ["padding"] = new JsonObject
            {
                ["strategy"] = "BatchLongest", ["direction"] = "Right", ["pad_to_multiple_of"] = null, ["pad_id"] = ids.Pad,
                ["pad_type_id"] = 0, ["pad_token"] = Vocabulary.Pad,
            },
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = lowerCase,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Special(Vocabulary.Cls, 0), Sequence("A", 0), Special(Vocabulary.Sep, 0)),
                ["pair"] = new JsonArray(Special(Vocabulary.Cls, 0), Sequence("A", 0), Special(Vocabulary.Sep, 0), Sequence("B", 1), Special(Vocabulary.Sep, 1)),
                ["special_tokens"] = new JsonObject
                {
                    [Vocabulary.Cls] = SpecialEntry(Vocabulary.Cls, ids.Cls),
                    [Vocabulary.Sep] = SpecialEntry(Vocabulary.Sep, ids.Sep),
                },
            },
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = Vocabulary.ContinuationPrefix, ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = Vocabulary.Unk, ["continuing_subword_prefix"] = Vocabulary.ContinuationPrefix,
                ["max_input_chars_per_word"] = WordPieceTokenizer.DefaultMaxInputCharsPerWord, ["vocab"] = vocabObject,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>Writes <see cref="FileName"/> into <paramref name="folder"/> (temporary file, then rename).</summary>
    public static void Save(string folder, Vocabulary vocab, bool lowerCase, int maxLength) =>
        AtomicFile.WriteAllText(Path.Combine(folder, FileName), Create(vocab, lowerCase, maxLength));

    /// <summary>The vocabulary, casing and truncation length of a BERT WordPiece <c>tokenizer.json</c>. A file that is not
    /// JSON, not a WordPiece model with the <c>##</c> prefix, has ids that are not 0…n−1, or lacks a BERT special token
    /// is an <see cref="InvalidDataException"/> naming the file and the field.</summary>
    public static (Vocabulary Vocabulary, bool LowerCase, int? MaxLength) Read(string path)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path, Encoding.UTF8)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (root is not JsonObject o) throw new InvalidDataException($"{path}: not a JSON object");
        if (o["model"] is not JsonObject model || Str(model, "type") != "WordPiece")
            throw new InvalidDataException($"{path}: model.type is '{(o["model"] as JsonObject)?["type"]}', only a WordPiece (BERT) tokenizer can be read");
        if (Str(model, "continuing_subword_prefix") is { } prefix && prefix != Vocabulary.ContinuationPrefix)
            throw new InvalidDataException($"{path}: model.continuing_subword_prefix is '{prefix}', BERT's is '##'");
        if (model["vocab"] is not JsonObject vocabObject || vocabObject.Count == 0)
            throw new InvalidDataException($"{path}: model.vocab is missing or empty");
        var tokens = new string?[vocabObject.Count];
        foreach (var (token, idNode) in vocabObject)
        {
            if (idNode is not JsonValue v || !v.TryGetValue(out int id) || id < 0 || id >= tokens.Length || tokens[id] is not null)
                throw new InvalidDataException($"{path}: model.vocab['{token}'] = {idNode?.ToJsonString()} is not a distinct id in [0, {tokens.Length})");
            tokens[id] = token;
        }
        var vocab = Vocabulary.FromTokens(tokens!, path); // refuses a vocabulary without BERT's special tokens

        bool lowerCase = true; // HF's BertNormalizer default
        if (o["normalizer"] is JsonObject n)
        {
            if (Str(n, "type") != "BertNormalizer")
                throw new InvalidDataException($"{path}: normalizer.type is '{Str(n, "type")}', only BertNormalizer is supported (BERT's basic tokenizer)");
            if (n["lowercase"] is JsonValue lv && lv.TryGetValue(out bool lc)) lowerCase = lc;
            if (n["strip_accents"] is JsonValue sv && sv.TryGetValue(out bool strip) && strip != lowerCase)
                throw new InvalidDataException($"{path}: normalizer.strip_accents is {strip.ToString().ToLowerInvariant()} with lowercase {lowerCase.ToString().ToLowerInvariant()}; BertSharp strips accents exactly when it lower-cases");
        }
        int? maxLength = o["truncation"] is JsonObject t && t["max_length"] is JsonValue mv && mv.TryGetValue(out int ml) ? ml : null;
        return (vocab, lowerCase, maxLength);
    }

    private static string? Str(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
}
