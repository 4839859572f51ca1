using System.Buffers;
using System.Text;
using System.Text.Json;

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
