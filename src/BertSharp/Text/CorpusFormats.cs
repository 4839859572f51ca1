namespace BertSharp.Text;

/// <summary>
/// The names of the <see cref="CorpusFormat"/>s as run.json and the command line spell them (<c>auto</c>, <c>imdb</c>,
/// <c>text-folder</c>, <c>text-file</c>, <c>jsonl</c>): the one map between the two.
/// </summary>
public static class CorpusFormats
{
    private static readonly (string Name, CorpusFormat Format)[] Map =
    [
        ("auto", CorpusFormat.Auto), ("imdb", CorpusFormat.Imdb), ("text-folder", CorpusFormat.TextFolder),
        ("text-file", CorpusFormat.TextFile), ("jsonl", CorpusFormat.JsonLines),
    ];

    /// <summary>Every name, in the order help texts list them.</summary>
    public static IReadOnlyList<string> Names { get; } = Map.Select(m => m.Name).ToArray();

    /// <summary>The format named <paramref name="name"/> (exactly as spelled in <see cref="Names"/>); false for any other name.</summary>
    public static bool TryParse(string? name, out CorpusFormat format)
    {
        foreach (var (n, f) in Map)
            if (n == name)
            {
                format = f;
                return true;
            }
        format = CorpusFormat.Auto;
        return false;
    }

    /// <summary>The format named <paramref name="name"/>; an unknown name is a usage error that lists the known ones.</summary>
    /// <param name="name">the name given</param>
    /// <param name="source">what gave it (an option or property), the start of the message</param>
    public static CorpusFormat Parse(string name, string source) => TryParse(name, out var format) ? format
        : throw new BertSharpException($"{source}: unknown format '{name}' ({string.Join(", ", Names)})", ErrorKind.Usage) { Properties = [source] };
}
