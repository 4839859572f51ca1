using BertSharp.Files;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace BertSharp.Text;

/// <summary>One document as a reader produced it: raw text (or its UTF-8 bytes, decoded by the worker
/// that cleans it, so the reader thread does less and no raw string is allocated), how to clean it,
/// and where it came from.</summary>
public sealed class CorpusDocument
{
    private readonly string? _text;
    private readonly byte[]? _utf8;
    private readonly Encoding? _encoding;
    [ThreadStatic] private static char[]? t_decoded;

    /// <summary>A document held as a string.</summary>
    public CorpusDocument(string rawText, TextKind kind, DocumentInfo info, string name)
    {
        _text = rawText;
        Kind = kind;
        Info = info;
        Name = name;
    }

    /// <summary>A document kept as UTF-8 bytes; <paramref name="encoding"/> decodes them (replacing and counting invalid sequences).</summary>
    public CorpusDocument(byte[] utf8, Encoding encoding, TextKind kind, DocumentInfo info, string name)
    {
        _utf8 = utf8;
        _encoding = encoding;
        Kind = kind;
        Info = info;
        Name = name;
    }

    /// <summary>How its raw text marks lines and paragraphs (what cleaning does with newlines).</summary>
    public TextKind Kind { get; }
    /// <summary>Its split, label and rating.</summary>
    public DocumentInfo Info { get; }
    /// <summary>File or archive entry (plus line number for multi-document files), for messages.</summary>
    public string Name { get; }
    /// <summary>Size of the raw text in chars (or UTF-8 bytes): what batching and progress count.</summary>
    public int Length => _text?.Length ?? _utf8!.Length;

    /// <summary>The raw text (decoded on each call when held as bytes).</summary>
    public string RawText => _text ?? _encoding!.GetString(_utf8!);

    /// <summary>The cleaned text, one paragraph per line (see <see cref="TextCleaner"/>).</summary>
    public string CleanText()
    {
        char[] buffer = [];
        int n = CleanInto(ref buffer);
        return new string(buffer, 0, n);
    }

    /// <summary>Writes the cleaned text into <paramref name="buffer"/> (grown as needed) and returns its length.</summary>
    public int CleanInto(ref char[] buffer)
    {
        if (_text != null) return TextCleaner.CleanInto(_text, Kind, ref buffer);
        var decoded = t_decoded ??= new char[1 << 14];
        int max = _encoding!.GetMaxCharCount(_utf8!.Length);
        if (decoded.Length < max) t_decoded = decoded = new char[Math.Max(max, decoded.Length * 2)];
        int n = _encoding.GetChars(_utf8, 0, _utf8.Length, decoded, 0);
        int length = TextCleaner.CleanInto(decoded.AsSpan(0, n), Kind, ref buffer);
        if (decoded.Length > 1 << 22) t_decoded = null; // don't keep a huge buffer per thread
        return length;
    }
}

/// <summary>Layouts of a corpus on disk that <see cref="CorpusReader.Open"/> reads.</summary>
public enum CorpusFormat
{
    /// <summary>Chosen from the path: an IMDB archive or folder, a .jsonl file, a folder of .txt files, or a text file.</summary>
    Auto,
    /// <summary>aclImdb_v1.tar.gz (read straight from the compressed stream) or an extracted aclImdb folder.</summary>
    Imdb,
    /// <summary>A folder of .txt files (searched recursively), one document per file, blank lines between paragraphs.</summary>
    TextFolder,
    /// <summary>One text file, one sentence (or paragraph) per line, documents separated by blank lines
    /// (Google's create_pretraining_data.py input).</summary>
    TextFile,
    /// <summary>JSON Lines, one document per line in a string field "text".</summary>
    JsonLines,
}

/// <summary>What reading found that the user should know: counts, replaced bytes, warnings.</summary>
public sealed class CorpusReadStats
{
    /// <summary>Documents read.</summary>
    public long Documents;
    /// <summary>Bytes of input read (files or archive entries).</summary>
    public long Bytes;
    /// <summary>Invalid UTF-8 sequences, each replaced by U+FFFD (which the basic tokenizer drops).</summary>
    public long InvalidUtf8;
    /// <summary>Things to tell the user (long lines read in pieces, long documents split), one line each.</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>What reading found, as the lines shown to the user: each warning, then the replaced sequences (if any).</summary>
    public IEnumerable<string> WarningLines()
    {
        foreach (var w in Warnings) yield return $"warning: {w}";
        if (InvalidUtf8 > 0) yield return $"warning: {InvalidUtf8:N0} invalid UTF-8 sequence(s) replaced by U+FFFD (dropped by the tokenizer)";
    }
}

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

/// <summary>IMDB (Maas et al. 2011): train/test × pos/neg and train/unsup, star rating from "ID_RATING.txt".</summary>
public sealed class ImdbCorpusReader : CorpusReader
{
    /// <summary>IMDB's splits, in the order <see cref="DocumentInfo.Split"/> indexes them.</summary>
    public static readonly string[] Splits = ["train/pos", "train/neg", "train/unsup", "test/pos", "test/neg"];
    private readonly bool _archive;

    /// <summary>A reader of the archive (aclImdb_v1.tar.gz) or folder at <paramref name="path"/>; <see
    /// cref="InvalidDataException"/> when a folder is not IMDB's.</summary>
    public ImdbCorpusReader(string path) : base(path, CorpusFormat.Imdb)
    {
        _archive = File.Exists(path);
        if (!_archive && FindImdbRoot(path) == null)
            throw new InvalidDataException($"{path}: not an IMDB folder (no train/ and test/ folders with pos/ and neg/ inside)");
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> SplitNames => Splits;

    /// <summary>The aclImdb folder itself, or the one inside <paramref name="dir"/>; null if neither.</summary>
    public static string? FindImdbRoot(string dir)
    {
        foreach (var candidate in new[] { dir, System.IO.Path.Combine(dir, "aclImdb") })
            if (Directory.Exists(System.IO.Path.Combine(candidate, "train", "pos")) && Directory.Exists(System.IO.Path.Combine(candidate, "test", "neg")))
                return candidate;
        return null;
    }

    /// <summary>Parses ".../train/pos/123_8.txt" into its split, label and rating; false for any other entry.</summary>
    public static bool TryParseEntry(string name, out DocumentInfo info)
    {
        info = default;
        var parts = name.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3) return false;
        string split = parts[^3] + "/" + parts[^2], file = parts[^1];
        int index = Array.IndexOf(Splits, split);
        if (index < 0 || !file.EndsWith(".txt", StringComparison.Ordinal)) return false;
        int us = file.IndexOf('_');
        if (us <= 0 || !int.TryParse(file.AsSpan(0, us), out _) || !int.TryParse(file.AsSpan(us + 1, file.Length - us - 5), out int rating))
            return false;
        int label = parts[^2] switch { "pos" => 1, "neg" => 0, _ => -1 };
        info = new DocumentInfo(index, label, rating);
        return true;
    }

    /// <inheritdoc/>
    public override string Fingerprint()
    {
        if (_archive) return "imdb-archive|" + FileFingerprint(Path);
        var root = FindImdbRoot(Path)!;
        long count = 0, bytes = 0, latest = 0;
        foreach (var f in TextFiles(root))
        {
            var fi = new FileInfo(f);
            count++;
            bytes += fi.Length;
            latest = Math.Max(latest, fi.LastWriteTimeUtc.Ticks);
        }
        return $"imdb-folder|{root}|{count}|{bytes}|{latest}";
    }

    /// <inheritdoc/>
    protected override IEnumerable<CorpusDocument> Read(CancellationToken cancel) =>
        _archive ? ReadArchive() : ReadFolder();

    private IEnumerable<CorpusDocument> ReadArchive()
    {
        var encoding = CountingUtf8();
        using var file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        TarEntry? entry;
        while ((entry = ReadEntry(tar)) != null)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream == null) continue;
            if (!TryParseEntry(entry.Name, out var info)) continue;
            if (entry.Length > MaxDocumentChars) throw new InvalidDataException($"{Path}: entry {entry.Name} is {entry.Length:N0} bytes, too large for a review");
            var bytes = new byte[(int)entry.Length];
            entry.DataStream.ReadExactly(bytes);
            Stats.Bytes += bytes.Length;
            yield return new CorpusDocument(bytes, encoding, TextKind.ImdbReview, info, entry.Name);
        }
    }

    private TarEntry? ReadEntry(TarReader tar)
    {
        try { return tar.GetNextEntry(copyData: false); }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new InvalidDataException($"{Path}: not a readable .tar.gz archive ({e.Message})", e);
        }
    }

    private IEnumerable<CorpusDocument> ReadFolder()
    {
        var encoding = CountingUtf8();
        var root = FindImdbRoot(Path)!;
        for (int s = 0; s < Splits.Length; s++)
        {
            var dir = System.IO.Path.Combine(root, Splits[s].Replace('/', System.IO.Path.DirectorySeparatorChar));
            if (!Directory.Exists(dir)) continue;
            var files = new List<(int Id, string File, DocumentInfo Info)>();
            foreach (var f in Directory.EnumerateFiles(dir, "*.txt"))
                if (TryParseEntry(System.IO.Path.GetRelativePath(root, f), out var info))
                    files.Add((int.Parse(System.IO.Path.GetFileName(f).AsSpan(0, System.IO.Path.GetFileName(f).IndexOf('_'))), f, info));
            files.Sort((a, b) => a.Id != b.Id ? a.Id.CompareTo(b.Id) : string.CompareOrdinal(a.File, b.File));
            foreach (var (_, f, info) in files)
            {
                var bytes = File.ReadAllBytes(f);
                Stats.Bytes += bytes.Length;
                yield return new CorpusDocument(bytes, encoding, TextKind.ImdbReview, info, f);
            }
        }
    }
}

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
