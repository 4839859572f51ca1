using System.Formats.Tar;
using System.IO.Compression;

namespace BertSharp.Text;

/// <summary>
/// Extracts a tar (optionally gzip-compressed) archive with System.Formats.Tar, refusing anything that
/// could write outside the target folder or exhaust the disk: absolute paths, <c>..</c> segments,
/// symbolic and hard links, devices, entries over a size limit, and archives over a total limit.
/// Everything goes into a temporary folder first, renamed into place only when the whole archive is
/// good, so a refused archive leaves nothing behind.
/// </summary>
public static class SafeTarExtractor
{
    /// <summary>Largest single file extracted (256 MiB).</summary>
    public const long DefaultMaxEntryBytes = 256L << 20;
    /// <summary>Largest total extracted (4 GiB).</summary>
    public const long DefaultMaxTotalBytes = 4L << 30;

    /// <summary>Extracts into <paramref name="targetDir"/>, which must not exist yet; returns the number of files.</summary>
    public static int Extract(string archivePath, string targetDir, long maxEntryBytes = DefaultMaxEntryBytes,
        long maxTotalBytes = DefaultMaxTotalBytes, CancellationToken cancel = default)
    {
        targetDir = Path.GetFullPath(targetDir);
        if (Directory.Exists(targetDir)) throw new IOException($"{targetDir}: already exists");
        string parent = Path.GetDirectoryName(targetDir)!;
        Directory.CreateDirectory(parent);
        string prefix = "." + Path.GetFileName(targetDir) + ".extracting-";
        string temp = Path.Combine(parent, prefix + Environment.ProcessId);
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        // Partial extractions of killed processes: never complete, never used; removed here.
        foreach (var d in Directory.GetDirectories(parent, prefix + "*"))
            if (int.TryParse(Path.GetFileName(d)[prefix.Length..], out int pid) && !ProcessStatus.IsRunning(pid))
                try { Directory.Delete(d, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        Directory.CreateDirectory(temp);
        try
        {
            int files;
            using (var fs = new FileStream(archivePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
            {
                Stream stream = fs;
                var magic = new byte[2];
                int got = fs.Read(magic);
                fs.Position = 0;
                if (got == 2 && magic[0] == 0x1F && magic[1] == 0x8B) stream = new GZipStream(fs, CompressionMode.Decompress);
                using (stream)
                    files = ExtractStream(stream, archivePath, temp, maxEntryBytes, maxTotalBytes, cancel);
            }
            Directory.Move(temp, targetDir);
            return files;
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    private static int ExtractStream(Stream stream, string name, string root, long maxEntry, long maxTotal, CancellationToken cancel)
    {
        using var reader = new TarReader(stream);
        string rootWithSep = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        long total = 0;
        int files = 0;
        while (true)
        {
            TarEntry? entry;
            try { entry = reader.GetNextEntry(copyData: false); }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
            {
                throw new InvalidDataException($"{name}: not a readable tar archive ({e.Message})", e);
            }
            if (entry == null) break;
            cancel.ThrowIfCancellationRequested();
            string entryName = entry.Name;
            // Metadata only (aclImdb_v1.tar.gz starts with a pax global header): nothing to write.
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes) continue;
            if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                throw new InvalidDataException($"{name}: refusing link entry {entryName} -> {entry.LinkName}");
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.Directory or TarEntryType.ContiguousFile))
                throw new InvalidDataException($"{name}: refusing entry {entryName} of type {entry.EntryType}");
            string normalized = entryName.Replace('\\', '/');
            if (normalized.StartsWith('/') || Path.IsPathRooted(entryName) || (normalized.Length >= 2 && normalized[1] == ':'))
                throw new InvalidDataException($"{name}: refusing absolute path {entryName}");
            if (normalized.Split('/').Any(p => p == ".."))
                throw new InvalidDataException($"{name}: refusing path with .. {entryName}");
            string full = Path.GetFullPath(Path.Combine(root, normalized));
            if (!full.StartsWith(rootWithSep, StringComparison.Ordinal) && full != root)
                throw new InvalidDataException($"{name}: refusing {entryName}, which lands outside the target folder");
            if (entry.EntryType == TarEntryType.Directory)
            {
                Directory.CreateDirectory(full);
                continue;
            }
            if (entry.Length > maxEntry)
                throw new InvalidDataException($"{name}: refusing {entryName} of {entry.Length:N0} bytes (limit {maxEntry:N0})");
            total += entry.Length;
            if (total > maxTotal)
                throw new InvalidDataException($"{name}: refusing archive: more than {maxTotal:N0} bytes in total");
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            using (var output = new FileStream(full, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                if (entry.DataStream != null) CopyExactly(entry.DataStream, output, entry.Length, name, entryName);
            files++;
        }
        return files;
    }

    private static void CopyExactly(Stream source, Stream destination, long length, string name, string entryName)
    {
        var buffer = new byte[1 << 16];
        long left = length;
        while (left > 0)
        {
            int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) throw new InvalidDataException($"{name}: entry {entryName} is truncated");
            destination.Write(buffer, 0, n);
            left -= n;
        }
    }
}
