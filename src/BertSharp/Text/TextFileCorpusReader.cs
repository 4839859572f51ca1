using System.Text;

namespace BertSharp.Text;

/// <summary>One text file, documents separated by blank lines, every line a hard boundary (Google's format).</summary>
public sealed class TextFileCorpusReader(string path) : CorpusReader(path, CorpusFormat.TextFile)
{
    /// <inheritdoc/>
    public override string Fingerprint() => "textfile|" + FileFingerprint(Path);

    /// <inheritdoc/>
    protected override IEnumerable<CorpusDocument> Read(CancellationToken cancel)
    {
        var info = new DocumentInfo(0, -1, 0);
        var doc = new StringBuilder();
        long first = 1;
        foreach (var (line, number, _) in ReadLines(Path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                if (doc.Length > 0) yield return new CorpusDocument(doc.ToString(), TextKind.Lines, info, $"{Path}:{first}");
                doc.Clear();
                continue;
            }
            if (doc.Length == 0) first = number;
            if (doc.Length + line.Length > MaxDocumentChars)
            {
                WarnLongDocument(Path, number);
                yield return new CorpusDocument(doc.ToString(), TextKind.Lines, info, $"{Path}:{first}");
                doc.Clear();
                first = number;
            }
            doc.Append(line).Append('\n');
        }
        if (doc.Length > 0) yield return new CorpusDocument(doc.ToString(), TextKind.Lines, info, $"{Path}:{first}");
    }
}
