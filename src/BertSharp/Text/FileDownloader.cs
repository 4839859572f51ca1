using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace BertSharp.Text;

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
