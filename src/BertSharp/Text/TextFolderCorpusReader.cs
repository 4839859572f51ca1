using System.Text;

namespace BertSharp.Text;

/// <summary>A folder of .txt files (recursive, ordinal path order), one document per file.</summary>
public sealed class TextFolderCorpusReader(string path) : CorpusReader(path, CorpusFormat.TextFolder)
{
    private List<string> Files() =>
        TextFiles(Path).Order(StringComparer.Ordinal).ToList();

    /// <inheritdoc/>
    public override string Fingerprint()
    {
        var sb = new StringBuilder("folder|" + Path);
        long count = 0, bytes = 0, latest = 0;
        foreach (var f in Files())
        {
            var fi = new FileInfo(f);
            count++;
            bytes += fi.Length;
            latest = Math.Max(latest, fi.LastWriteTimeUtc.Ticks);
        }
        return sb.Append($"|{count}|{bytes}|{latest}").ToString();
    }

    /// <inheritdoc/>
    protected override IEnumerable<CorpusDocument> Read(CancellationToken cancel)
    {
        var info = new DocumentInfo(0, -1, 0);
        var doc = new StringBuilder();
        foreach (var f in Files())
        {
            doc.Clear();
            foreach (var (line, number, _) in ReadLines(f))
            {
                if (doc.Length + line.Length > MaxDocumentChars && doc.Length > 0)
                {
                    WarnLongDocument(f, number);
                    yield return new CorpusDocument(doc.ToString(), TextKind.Paragraphs, info, f);
                    doc.Clear();
                }
                doc.Append(line).Append('\n');
            }
            if (doc.Length > 0) yield return new CorpusDocument(doc.ToString(), TextKind.Paragraphs, info, f);
        }
    }
}
