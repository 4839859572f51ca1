using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace BertSharp.Text;

/// <summary>Progress of a download.</summary>
/// <param name="Received">bytes on disk so far (a resumed part included)</param>
/// <param name="Total">the file's size, when the server says</param>
public readonly record struct DownloadProgress(long Received, long? Total);

/// <summary>
/// Downloads a file over HTTP(S) into <c>destination.part</c>, resuming a previous partial download
/// with a Range request, then verifies its SHA-256 and only then renames it to the destination. A wrong
/// checksum deletes the download and throws: nothing is left that could pass for the real file.
/// </summary>
public static class FileDownloader
{
    /// <summary>Downloads <paramref name="url"/> to <paramref name="destination"/> (kept as is if it exists and matches
    /// <paramref name="expectedSha256"/>; no check when that is null), retrying up to <paramref name="maxAttempts"/>
    /// times. Throws <see cref="IOException"/> when interrupted (run again to resume) and <see
    /// cref="InvalidDataException"/> on a checksum mismatch.</summary>
    public static async Task DownloadAsync(HttpClient http, Uri url, string destination, string? expectedSha256,
        IProgress<DownloadProgress>? progress = null, int maxAttempts = 3, CancellationToken cancel = default)
    {
        destination = Path.GetFullPath(destination);
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        if (File.Exists(destination))
        {
            if (expectedSha256 == null || HashMatches(destination, expectedSha256, out _)) return;
            throw new InvalidDataException($"{destination}: exists but its SHA-256 does not match {expectedSha256}; delete it to download again");
        }
        string part = destination + ".part";
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await FetchAsync(http, url, part, progress, cancel);
                break;
            }
            catch (Exception e) when (attempt < maxAttempts && !cancel.IsCancellationRequested && e is HttpRequestException or IOException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancel);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                throw new IOException($"{url}: download interrupted after {(File.Exists(part) ? new FileInfo(part).Length : 0):N0} bytes ({e.Message}); run again to resume", e);
            }
        }
        if (expectedSha256 != null && !HashMatches(part, expectedSha256, out string actual))
        {
            File.Delete(part);
            throw new InvalidDataException($"{url}: SHA-256 mismatch (expected {expectedSha256.ToLowerInvariant()}, got {actual}); the download was deleted");
        }
        File.Move(part, destination, overwrite: true);
    }

    private static async Task FetchAsync(HttpClient http, Uri url, string part, IProgress<DownloadProgress>? progress, CancellationToken cancel)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            return; // the part file is already whole; the checksum decides
        response.EnsureSuccessStatusCode();
        bool append = have > 0 && response.StatusCode == HttpStatusCode.PartialContent
            && response.Content.Headers.ContentRange?.From == have;
        if (!append) have = 0; // the server ignored the range: start over
        long? total = response.Content.Headers.ContentLength is long len ? len + have : null;
        await using var body = await response.Content.ReadAsStreamAsync(cancel);
        await using var file = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        var buffer = new byte[1 << 16];
        long received = have;
        long lastReport = 0;
        int n;
        progress?.Report(new DownloadProgress(received, total));
        while ((n = await body.ReadAsync(buffer, cancel)) > 0)
        {
            await file.WriteAsync(buffer.AsMemory(0, n), cancel);
            received += n;
            if (received - lastReport >= 1 << 20) { progress?.Report(new DownloadProgress(received, total)); lastReport = received; }
        }
        if (total != null && received != total)
            throw new IOException($"the server sent {received:N0} of {total:N0} bytes");
        progress?.Report(new DownloadProgress(received, total));
    }

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    public static string Sha256Of(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>True when the file's SHA-256 equals <paramref name="expected"/> (hex, any case); <paramref
    /// name="actual"/> receives the computed one.</summary>
    public static bool HashMatches(string path, string expected, out string actual)
    {
        actual = Sha256Of(path);
        return string.Equals(actual, expected.Trim(), StringComparison.OrdinalIgnoreCase);
    }
}

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

/// <summary>Getting IMDB onto disk: from a local archive or folder, or downloaded from its official address.</summary>
public static class ImdbDataset
{
    /// <summary>Official address of the archive.</summary>
    public const string Url = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";
    /// <summary>Its SHA-256.</summary>
    public const string Sha256 = "086c0f6cff7fbe97c0cb9ad18e8c39c75a9644cef53ae760c23c6da498e0485f";
    /// <summary>Its file name.</summary>
    public const string ArchiveName = "aclImdb_v1.tar.gz";

    /// <summary>
    /// Makes <c>outDir/aclImdb</c> hold the extracted dataset and returns its path. Uses, in order: an
    /// already extracted folder there; <paramref name="archive"/> (an archive file or an aclImdb folder,
    /// verified against <paramref name="sha256"/> unless null); <c>outDir/aclImdb_v1.tar.gz</c>; else
    /// downloads from <paramref name="url"/>.
    /// </summary>
    public static async Task<string> AcquireAsync(string outDir, string? archive, Uri url, string? sha256, HttpClient http,
        IProgress<DownloadProgress>? progress = null, Action<string>? log = null, CancellationToken cancel = default)
    {
        outDir = Path.GetFullPath(outDir);
        string target = Path.Combine(outDir, "aclImdb");
        if (archive != null && Directory.Exists(archive))
        {
            var root = ImdbCorpusReader.FindImdbRoot(archive)
                ?? throw new InvalidDataException($"{archive}: not an IMDB folder (no train/ and test/ folders with pos/ and neg/ inside)");
            log?.Invoke($"using the extracted dataset in {root}");
            return root;
        }
        if (ImdbCorpusReader.FindImdbRoot(target) != null)
        {
            log?.Invoke($"already extracted: {target}");
            return target;
        }
        string archivePath;
        if (archive != null)
        {
            if (!File.Exists(archive)) throw new FileNotFoundException($"{archive}: no such file or folder", archive);
            archivePath = archive;
            if (sha256 != null && !FileDownloader.HashMatches(archivePath, sha256, out string actual))
                throw new InvalidDataException($"{archive}: SHA-256 mismatch (expected {sha256.ToLowerInvariant()}, got {actual})");
        }
        else
        {
            archivePath = Path.Combine(outDir, ArchiveName);
            if (!File.Exists(archivePath)) log?.Invoke($"downloading {url}");
            await FileDownloader.DownloadAsync(http, url, archivePath, sha256, progress, cancel: cancel);
        }
        log?.Invoke($"extracting {archivePath}");
        string staging = Path.Combine(outDir, ".aclImdb-archive");
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        SafeTarExtractor.Extract(archivePath, staging, cancel: cancel);
        string inner = ImdbCorpusReader.FindImdbRoot(staging)
            ?? throw new InvalidDataException($"{archivePath}: the archive holds no aclImdb dataset");
        Directory.Move(inner, target);
        Directory.Delete(staging, recursive: true);
        return target;
    }

    /// <summary>The reviews (.txt files) in each split of the extracted dataset at <paramref name="root"/>, in the order of
    /// <see cref="ImdbCorpusReader.Splits"/>; a missing split counts 0.</summary>
    public static IReadOnlyDictionary<string, int> CountReviews(string root)
    {
        var perSplit = new Dictionary<string, int>();
        foreach (var split in ImdbCorpusReader.Splits)
        {
            var dir = Path.Combine(root, split.Replace('/', Path.DirectorySeparatorChar));
            perSplit[split] = Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.txt").Count() : 0;
        }
        return perSplit;
    }
}
