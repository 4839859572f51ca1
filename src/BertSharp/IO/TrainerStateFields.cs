using System.Text.Json;
using System.Text.Json.Nodes;

namespace BertSharp.IO;

/// <summary>The fields of a trainer_state.json and what each may hold, checked before the file is used: a damaged state
/// (a field missing, of the wrong type, a negative counter, a NaN) is refused naming the field, rather than read as
/// zeros, crashing later, or showing up as a divergence of the resumed training.</summary>
internal static class TrainerStateFields
{
    private enum Kind { Count, Position, Rate, Text, Generators, History, OptionalCount, OptionalRate, OptionalText }

    // Every field TrainerState holds, snake_case as written (old files: the same names in PascalCase).
    private static readonly (string Name, Kind Kind)[] Fields =
    [
        ("step", Kind.Count), ("epoch", Kind.Count), ("micro_step", Kind.Count), ("learning_rate", Kind.Rate),
        ("schedule", Kind.Text), ("peak_learning_rate", Kind.Rate), ("warmup_steps", Kind.Count), ("total_steps", Kind.Count),
        ("seed", Kind.Count), ("rng_states", Kind.Generators), ("data_position", Kind.Position), ("history", Kind.History),
        ("best_metric", Kind.OptionalText), ("best_step", Kind.OptionalCount), ("best_value", Kind.OptionalRate),
        ("precision", Kind.OptionalText), ("evaluations_since_best", Kind.OptionalCount),
    ];

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first field of <paramref name="state"/> that is
    /// missing, of the wrong type or out of range.</summary>
    public static void Check(JsonObject state, bool legacy, string path)
    {
        foreach (var (snake, kind) in Fields)
        {
            string name = legacy ? Pascal(snake) : snake;
            bool optional = kind is Kind.Generators or Kind.Position or Kind.OptionalCount or Kind.OptionalRate or Kind.OptionalText;
            if (!state.TryGetPropertyValue(name, out var node) || node is null)
            {
                if (optional) continue;
                throw Damaged(path, name, node is null && state.ContainsKey(name) ? "is null" : "is missing");
            }
            string? problem = kind switch
            {
                Kind.Count or Kind.OptionalCount => Whole(node, min: 0, max: snake is "seed" ? long.MaxValue : int.MaxValue),
                Kind.Position => Whole(node, min: -1, max: long.MaxValue),
                Kind.Rate or Kind.OptionalRate => Finite(node, nonNegative: snake != "best_value"),
                Kind.Text or Kind.OptionalText => node.GetValueKind() == JsonValueKind.String ? null : $"is {Describe(node)}, not a string",
                Kind.Generators => node is JsonObject o ? o.Select(kv => kv.Value is null ? "is null" : Whole(kv.Value, 0, long.MaxValue) is { } p ? $"'{kv.Key}' {p}" : null)
                    .FirstOrDefault(p => p is not null) : $"is {Describe(node)}, not an object",
                Kind.History => node is JsonArray a ? a.Select((e, i) => e is JsonObject h && h.TryGetPropertyValue(legacy ? "Step" : "step", out var s) && s is not null
                    ? Whole(s, 0, long.MaxValue) is { } p ? $"entry {i}: step {p}" : null : $"entry {i} is not an evaluation with a step")
                    .FirstOrDefault(p => p is not null) : $"is {Describe(node)}, not a list",
                _ => null,
            };
            if (problem is not null) throw Damaged(path, name, problem);
        }
    }

    private static InvalidDataException Damaged(string path, string field, string problem) =>
        new($"{path}: damaged trainer state: '{field}' {problem}");

    /// <summary>Null when <paramref name="node"/> is a whole number in [min, max], else what is wrong with it.</summary>
    private static string? Whole(JsonNode node, long min, long max)
    {
        if (node.GetValueKind() != JsonValueKind.Number) return $"is {Describe(node)}, not a whole number";
        var value = node.AsValue();
        if (!value.TryGetValue(out long n))
            return value.TryGetValue(out double d) && d == Math.Floor(d) ? $"is {node.ToJsonString()}, beyond what a run can count" : $"is {node.ToJsonString()}, not a whole number";
        if (n < min) return $"is {n}, must be {min} or more";
        if (n > max) return $"is {n}, beyond what a run can count ({max:N0})";
        return null;
    }

    /// <summary>Null when <paramref name="node"/> is a finite number (of 0 or more if <paramref name="nonNegative"/>: a
    /// learning rate), else what is wrong with it.</summary>
    private static string? Finite(JsonNode node, bool nonNegative)
    {
        // "NaN" and "Infinity" are how the writer spells non-finite numbers: they parse, but no learning rate is one.
        if (node.GetValueKind() == JsonValueKind.String && node.GetValue<string>() is "NaN" or "Infinity" or "-Infinity")
            return $"is {node.GetValue<string>()}, not a finite number";
        if (node.GetValueKind() != JsonValueKind.Number) return $"is {Describe(node)}, not a number";
        double d = node.GetValue<double>();
        return !double.IsFinite(d) ? $"is {d}, not a finite number" : nonNegative && d < 0 ? $"is {d}, must be 0 or more" : null;
    }

    private static string Describe(JsonNode node) => node.GetValueKind() switch
    {
        JsonValueKind.String => $"the text {node.ToJsonString()}",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.True or JsonValueKind.False => node.ToJsonString(),
        _ => node.ToJsonString(),
    };

    private static string Pascal(string snake) => string.Concat(snake.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
}
