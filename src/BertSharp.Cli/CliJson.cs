using System.Text.Json;
using System.Text.Json.Serialization;

namespace BertSharp.Cli;

/// <summary>How every <c>--json</c> output is written: snake_case keys, and a non-finite number as the string "NaN",
/// "Infinity" or "-Infinity" (as in metrics.jsonl and trainer_state.json), never a crash of the writer.</summary>
internal static class CliJson
{
    /// <summary>One object or array over several lines.</summary>
    public static readonly JsonSerializerOptions Indented = Create(indented: true);
    /// <summary>One object per line (JSON Lines).</summary>
    public static readonly JsonSerializerOptions Line = Create(indented: false);

    private static JsonSerializerOptions Create(bool indented) => new()
    {
        WriteIndented = indented,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null, // label names and the like are data, kept as they are
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
