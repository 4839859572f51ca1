using System.Text.Json;

namespace BertSharp.Text;

/// <summary>JSON Lines: one object per line with a string field "text"; blank lines are skipped.</summary>
public sealed class JsonLinesCorpusReader(string path) : CorpusReader(path, CorpusFormat.JsonLines)
{
    /// <inheritdoc/>
    public override string Fingerprint() => "jsonl|" + FileFingerprint(Path);

    /// <inheritdoc/>
    protected override IEnumerable<CorpusDocument> Read(CancellationToken cancel)
    {
        var info = new DocumentInfo(0, -1, 0);
        foreach (var (line, number, cut) in ReadLines(Path))
        {
            if (cut) throw new InvalidDataException($"{Path}:{number}: line longer than {MaxLineChars:N0} characters; a JSON line must be shorter");
            if (string.IsNullOrWhiteSpace(line)) continue;
            string? text;
            try
            {
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{Path}:{number}: no string field \"text\"");
                text = t.GetString();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{Path}:{number}: not valid JSON ({e.Message.Split('.')[0]})");
            }
            if (!string.IsNullOrWhiteSpace(text))
                yield return new CorpusDocument(text, TextKind.Paragraphs, info, $"{Path}:{number}");
        }
    }
}
