using BertSharp.Files;
using System.Text;

namespace BertSharp.Text;

/// <summary>
/// Streams the documents of a corpus, never holding more than one document (or one IMDB archive entry)
/// in memory. Lines longer than <see cref="MaxLineChars"/> are cut into pieces and documents longer than
/// <see cref="MaxDocumentChars"/> into several documents, with a warning, so memory stays bounded.
/// Not thread-safe: one enumeration at a time.
/// </summary>
public abstract class CorpusReader
{
    /// <summary>Refuses a pipe, socket or device given as (or found in) a corpus: <see cref="InvalidDataException"/> naming it.</summary>
    private static void RequireRegular(string path)
    {
        if (OutputPaths.SpecialFileKind(path) is { } kind)
            throw new InvalidDataException($"{path}: is a {kind}, not a regular file; a corpus is read from files and folders only");
    }

    /// <summary>The <c>.txt</c> files under <paramref name="root"/>, recursively. Symbolic links are followed, but a
    /// folder is entered once (a link back up the tree is no loop) and a file reached by two paths is listed once,
    /// under the first path found (subfolders in ordinal order).</summary>
    internal static List<string> TextFiles(string root)
    {
        var files = new List<string>();
        var seenFiles = new HashSet<string>(StringComparer.Ordinal);
        var seenDirs = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            string dir = pending.Pop(), real = PathNames.RealPath(dir);
            if (!seenDirs.Add(real)) continue;
            foreach (var f in Directory.EnumerateFiles(dir, "*.txt").Order(StringComparer.Ordinal))
            {
                RequireRegular(f);
                var link = new FileInfo(f).LinkTarget;
                if (seenFiles.Add(link is null ? System.IO.Path.Combine(real, System.IO.Path.GetFileName(f)) : PathNames.RealPath(f))) files.Add(f);
            }
            foreach (var d in Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal).Reverse())
                pending.Push(d);
        }
        return files;
    }

    /// <summary>Longer lines are cut into pieces of this many chars.</summary>
    public const int MaxLineChars = 1 << 18;
    /// <summary>Longer documents are cut into several of at most this many chars.</summary>
    public const int MaxDocumentChars = 1 << 20;

    /// <summary>A reader of <paramref name="path"/> (made absolute).</summary>
    protected CorpusReader(string path, CorpusFormat format)
    {
        Path = System.IO.Path.GetFullPath(path);
        Format = format;
    }

    /// <summary>Full path of the corpus file or folder.</summary>
    public string Path { get; }
    /// <summary>The layout this reader reads.</summary>
    public CorpusFormat Format { get; }
    /// <summary>Names of the splits documents belong to (<see cref="DocumentInfo.Split"/> indexes them); <c>all</c>
    /// when the format has none.</summary>
    public virtual IReadOnlyList<string> SplitNames => ["all"];
    /// <summary>Counts and warnings of the current (or last) enumeration, reset when <see cref="ReadDocuments"/>
    /// starts.</summary>
    public CorpusReadStats Stats { get; private set; } = new();

    /// <summary>Identifies the input for cache checks: format, path, and size + modification time of the files.</summary>
    public abstract string Fingerprint();

    /// <summary>Streams the documents in a fixed order, one at a time; <see cref="Stats"/> counts them as they go.
    /// Throws <see cref="OperationCanceledException"/> when <paramref name="cancel"/> fires.</summary>
    public IEnumerable<CorpusDocument> ReadDocuments(CancellationToken cancel = default)
    {
        Stats = new CorpusReadStats();
        _warnedLongDocument.Clear();
        foreach (var d in Read(cancel))
        {
            cancel.ThrowIfCancellationRequested();
            Stats.Documents++;
            yield return d;
        }
    }

    /// <summary>The format's own enumeration, wrapped by <see cref="ReadDocuments"/>.</summary>
    protected abstract IEnumerable<CorpusDocument> Read(CancellationToken cancel);

    /// <summary>A reader for <paramref name="path"/>; <see cref="CorpusFormat.Auto"/> picks the format from the path.
    /// Throws <see cref="FileNotFoundException"/> when nothing is there and <see cref="ArgumentException"/> when the
    /// format cannot read a file (or folder).</summary>
    public static CorpusReader Open(string path, CorpusFormat format = CorpusFormat.Auto)
    {
        bool isDir = Directory.Exists(path), isFile = File.Exists(path);
        if (!isDir && !isFile) throw new FileNotFoundException($"{path}: no such file or folder", path);
        // A pipe or a device would be read forever (or block until a writer comes): only regular files and folders.
        RequireRegular(path);
        if (format == CorpusFormat.Auto)
        {
            if (isDir) format = ImdbCorpusReader.FindImdbRoot(path) != null ? CorpusFormat.Imdb : CorpusFormat.TextFolder;
            else if (path.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
                format = CorpusFormat.Imdb;
            else if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase))
                format = CorpusFormat.JsonLines;
            else format = CorpusFormat.TextFile;
        }
        return format switch
        {
            CorpusFormat.Imdb => new ImdbCorpusReader(path),
            CorpusFormat.TextFolder when isDir => new TextFolderCorpusReader(path),
            CorpusFormat.TextFile when isFile => new TextFileCorpusReader(path),
            CorpusFormat.JsonLines when isFile => new JsonLinesCorpusReader(path),
            _ => throw new ArgumentException($"{path}: is a {(isDir ? "folder" : "file")}, which the {format} format cannot read"),
        };
    }

    private readonly HashSet<string> _warnedLongDocument = [];

    /// <summary>Warns once per file that its documents are being cut.</summary>
    protected void WarnLongDocument(string file, long line)
    {
        if (_warnedLongDocument.Add(file))
            Stats.Warnings.Add($"{file}:{line}: document longer than {MaxDocumentChars:N0} characters; split into several (further cuts in this file not reported)");
    }

    /// <summary>"full path|length|last write ticks" of a file, for <see cref="Fingerprint"/>.</summary>
    protected static string FileFingerprint(string file)
    {
        var fi = new FileInfo(file);
        return $"{fi.FullName}|{fi.Length}|{fi.LastWriteTimeUtc.Ticks}";
    }

    /// <summary>UTF-8 that replaces invalid sequences with U+FFFD and counts them.</summary>
    protected Encoding CountingUtf8()
    {
        var e = (Encoding)new UTF8Encoding(false, false).Clone();
        e.DecoderFallback = new CountingFallback(Stats);
        return e;
    }

    /// <summary>Throws when the first bytes of <paramref name="file"/> hold a NUL: text corpora never do.</summary>
    protected static void RejectBinary(string file, ReadOnlySpan<byte> head)
    {
        int nul = head.IndexOf((byte)0);
        if (nul >= 0) throw new InvalidDataException($"{file}: looks like a binary file (NUL byte at offset {nul}), not text");
    }

    /// <summary>Reads lines with a length cap; a longer line comes back in pieces (cut at a space when possible).</summary>
    protected IEnumerable<(string Line, long Number, bool Cut)> ReadLines(string file)
    {
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var head = new byte[Math.Min(8192, fs.Length)];
        fs.ReadExactly(head);
        RejectBinary(file, head);
        fs.Position = 0;
        Stats.Bytes += fs.Length;
        using var reader = new StreamReader(fs, CountingUtf8(), detectEncodingFromByteOrderMarks: false, 1 << 16);
        var buf = new char[1 << 16];
        var line = new StringBuilder();
        long number = 1;
        bool warned = false;
        int n;
        bool skipLf = false;
        while ((n = reader.Read(buf, 0, buf.Length)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                char c = buf[i];
                if (skipLf) { skipLf = false; if (c == '\n') continue; }
                if (c == '\n' || c == '\r')
                {
                    skipLf = c == '\r';
                    yield return (line.ToString(), number++, false);
                    line.Clear();
                    continue;
                }
                line.Append(c);
                if (line.Length >= MaxLineChars)
                {
                    if (!warned)
                    {
                        Stats.Warnings.Add($"{file}:{number}: line longer than {MaxLineChars:N0} characters; read in pieces");
                        warned = true;
                    }
                    var s = line.ToString();
                    int cut = s.LastIndexOf(' ');
                    if (cut < s.Length / 2) cut = s.Length;
                    yield return (s[..cut], number, true);
                    line.Clear().Append(s, cut, s.Length - cut);
                }
            }
        }
        if (line.Length > 0) yield return (line.ToString(), number, false);
    }

    private sealed class CountingFallback(CorpusReadStats stats) : DecoderFallback
    {
        public override int MaxCharCount => 1;
        public override DecoderFallbackBuffer CreateFallbackBuffer() => new Buffer(stats);

        private sealed class Buffer(CorpusReadStats stats) : DecoderFallbackBuffer
        {
            private bool _pending;
            public override int Remaining => _pending ? 1 : 0;

            public override bool Fallback(byte[] bytesUnknown, int index)
            {
                Interlocked.Increment(ref stats.InvalidUtf8); // workers decode concurrently
                _pending = true;
                return true;
            }

            public override char GetNextChar()
            {
                if (!_pending) return '\0';
                _pending = false;
                return '\uFFFD';
            }

            public override bool MovePrevious() => false;
            public override void Reset() => _pending = false;
        }
    }
}
