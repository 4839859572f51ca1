using System.Formats.Tar;
using System.IO.Compression;

namespace BertSharp.Text;

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
