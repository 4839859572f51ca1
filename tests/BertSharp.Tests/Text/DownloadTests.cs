using System.Formats.Tar;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 serving one file, honouring "Range: bytes=N-" with 206, and able
/// to cut the connection after a number of body bytes (an interrupted download).
/// </summary>
internal sealed class TinyHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly byte[] _content;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public TinyHttpServer(byte[] content)
    {
        _content = content;
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/aclImdb_v1.tar.gz");
    /// <summary>When set, the next responses send only this many body bytes, then close the connection.</summary>
    public long? CutAfter { get; set; }
    public bool IgnoreRange { get; set; }
    public List<string?> RangeHeaders { get; } = [];

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII, false, 1024, leaveOpen: true);
        string? requestLine = await reader.ReadLineAsync();
        if (requestLine == null) return;
        string? range = null;
        for (string? line; !string.IsNullOrEmpty(line = await reader.ReadLineAsync());)
            if (line.StartsWith("Range:", StringComparison.OrdinalIgnoreCase)) range = line[6..].Trim();
        lock (RangeHeaders) RangeHeaders.Add(range);
        long from = 0;
        if (range != null && !IgnoreRange && range.StartsWith("bytes=") && range.EndsWith('-'))
            from = long.Parse(range[6..^1]);
        string head;
        if (from >= _content.Length && from > 0)
            head = $"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{_content.Length}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        else if (from > 0)
            head = $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{_content.Length - 1}/{_content.Length}\r\nContent-Length: {_content.Length - from}\r\nConnection: close\r\n\r\n";
        else
            head = $"HTTP/1.1 200 OK\r\nContent-Length: {_content.Length}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        if (from >= _content.Length) return;
        long send = _content.Length - from;
        if (CutAfter is long cut) send = Math.Min(send, cut);
        await stream.WriteAsync(_content.AsMemory((int)from, (int)send));
        await stream.FlushAsync();
        client.Client.Shutdown(SocketShutdown.Both);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}

public class DownloadTests
{
    private static (byte[] Bytes, string Sha) TinyArchive(string path)
    {
        TextTestSupport.WriteTarGz(path, TextTestSupport.TinyImdb());
        var bytes = File.ReadAllBytes(path);
        return (bytes, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    [Fact]
    public async Task DownloadsVerifiesAndExtracts()
    {
        using var dir = new TextTestSupport.TempDir();
        var (bytes, sha) = TinyArchive(dir["src.tar.gz"]);
        using var server = new TinyHttpServer(bytes);
        using var http = new HttpClient();
        var reports = new List<DownloadProgress>();
        var root = await ImdbDataset.AcquireAsync(dir["data"], null, server.Url, sha, http, new SyncProgress<DownloadProgress>(reports.Add));
        Assert.Equal(Path.Combine(dir["data"], "aclImdb"), root);
        Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(dir["data"], ImdbDataset.ArchiveName)));
        Assert.Equal("Worth it.", File.ReadAllText(Path.Combine(root, "test", "pos", "1_8.txt")));
        Assert.Equal(bytes.Length, reports[^1].Received);
        Assert.Equal(bytes.Length, reports[^1].Total);
        Assert.False(File.Exists(Path.Combine(dir["data"], ImdbDataset.ArchiveName + ".part")));
        Assert.Empty(Directory.GetDirectories(dir["data"], ".*"));
        // A second run finds the extracted folder and fetches nothing.
        int requests = server.RangeHeaders.Count;
        Assert.Equal(root, await ImdbDataset.AcquireAsync(dir["data"], null, server.Url, sha, http));
        Assert.Equal(requests, server.RangeHeaders.Count);
    }

    [Fact]
    public async Task ResumesAnInterruptedDownloadWithARangeRequest()
    {
        using var dir = new TextTestSupport.TempDir();
        var (bytes, sha) = TinyArchive(dir["src.tar.gz"]);
        using var server = new TinyHttpServer(bytes) { CutAfter = bytes.Length / 3 };
        using var http = new HttpClient();
        string dest = dir["dl/archive.tar.gz"];
        var e = await Assert.ThrowsAsync<IOException>(() => FileDownloader.DownloadAsync(http, server.Url, dest, sha, maxAttempts: 1));
        Assert.Contains("run again to resume", e.Message);
        Assert.False(File.Exists(dest));
        Assert.Equal(bytes.Length / 3, new FileInfo(dest + ".part").Length);

        server.CutAfter = null;
        await FileDownloader.DownloadAsync(http, server.Url, dest, sha, maxAttempts: 1);
        Assert.Equal($"bytes={bytes.Length / 3}-", server.RangeHeaders[^1]);
        Assert.Equal(bytes, File.ReadAllBytes(dest));
        Assert.False(File.Exists(dest + ".part"));
    }

    [Fact]
    public async Task RetriesResumeWithinOneCallAndRestartWhenRangesAreIgnored()
    {
        using var dir = new TextTestSupport.TempDir();
        var (bytes, sha) = TinyArchive(dir["src.tar.gz"]);
        using var server = new TinyHttpServer(bytes) { CutAfter = bytes.Length / 2 + 1 };
        using var http = new HttpClient();
        // Each attempt delivers half: the second attempt resumes and completes.
        await FileDownloader.DownloadAsync(http, server.Url, dir["a.tar.gz"], sha, maxAttempts: 3);
        Assert.Equal(bytes, File.ReadAllBytes(dir["a.tar.gz"]));
        Assert.Equal([null, $"bytes={bytes.Length / 2 + 1}-"], server.RangeHeaders);

        // A server that ignores Range (200 instead of 206): the partial file is replaced, not appended to.
        File.WriteAllBytes(dir["b.tar.gz.part"], [1, 2, 3]);
        server.CutAfter = null;
        server.IgnoreRange = true;
        await FileDownloader.DownloadAsync(http, server.Url, dir["b.tar.gz"], sha, maxAttempts: 1);
        Assert.Equal(bytes, File.ReadAllBytes(dir["b.tar.gz"]));
    }

    [Fact]
    public async Task AWrongChecksumRejectsTheFileAndLeavesNothing()
    {
        using var dir = new TextTestSupport.TempDir();
        var (bytes, _) = TinyArchive(dir["src.tar.gz"]);
        using var server = new TinyHttpServer(bytes);
        using var http = new HttpClient();
        string wrong = new string('0', 64);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ImdbDataset.AcquireAsync(dir["data"], null, server.Url, wrong, http));
        Assert.Contains("SHA-256 mismatch", e.Message);
        Assert.Contains("deleted", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir["data"]));
        // A local archive with the wrong checksum is refused too, and nothing is extracted.
        var local = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ImdbDataset.AcquireAsync(dir["data"], dir["src.tar.gz"], server.Url, wrong, http));
        Assert.Contains("src.tar.gz: SHA-256 mismatch", local.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir["data"]));
    }

    /// <summary>Progress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

public class SafeTarExtractorTests
{
    private static void WriteTar(string path, Action<TarWriter> write)
    {
        using var fs = System.IO.File.Create(path);
        using var tar = new TarWriter(fs, TarEntryFormat.Pax);
        write(tar);
    }

    private static PaxTarEntry File(string name, string text) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) };

    [Theory]
    [InlineData("../evil.txt", "..")]
    [InlineData("good/../../evil.txt", "..")]
    [InlineData("/etc/evil.txt", "absolute")]
    public void RefusesEntriesThatEscapeTheTarget(string name, string reason)
    {
        using var dir = new TextTestSupport.TempDir();
        WriteTar(dir["bad.tar"], tar =>
        {
            tar.WriteEntry(File("ok/first.txt", "fine"));
            tar.WriteEntry(File(name, "evil"));
        });
        var e = Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(dir["bad.tar"], dir["out"]));
        Assert.Contains(reason, e.Message);
        Assert.False(Directory.Exists(dir["out"]));
        Assert.False(System.IO.File.Exists(dir["evil.txt"]));
        Assert.Single(Directory.GetFileSystemEntries(dir.Path)); // only bad.tar: the staging folder is gone
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink)]
    [InlineData(TarEntryType.HardLink)]
    public void RefusesLinks(TarEntryType type)
    {
        using var dir = new TextTestSupport.TempDir();
        WriteTar(dir["link.tar"], tar =>
        {
            tar.WriteEntry(new PaxTarEntry(type, "aclImdb/link") { LinkName = "/etc/passwd" });
            tar.WriteEntry(File("aclImdb/link", "overwrite through the link"));
        });
        var e = Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(dir["link.tar"], dir["out"]));
        Assert.Contains("refusing link", e.Message);
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void RefusesDevicesAndAbsurdSizes()
    {
        using var dir = new TextTestSupport.TempDir();
        WriteTar(dir["dev.tar"], tar => tar.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/null")));
        Assert.Contains("CharacterDevice", Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(dir["dev.tar"], dir["out"])).Message);
        WriteTar(dir["big.tar"], tar => tar.WriteEntry(File("big.txt", new string('x', 5000))));
        Assert.Contains("limit", Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(dir["big.tar"], dir["out"], maxEntryBytes: 4096)).Message);
        WriteTar(dir["many.tar"], tar => { for (int i = 0; i < 5; i++) tar.WriteEntry(File($"f{i}.txt", new string('x', 1000))); });
        Assert.Contains("in total", Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(dir["many.tar"], dir["out"], maxTotalBytes: 3000)).Message);
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void SkipsPaxGlobalHeadersLikeTheRealArchive()
    {
        using var dir = new TextTestSupport.TempDir();
        WriteTar(dir["pax.tar"], tar =>
        {
            tar.WriteEntry(new PaxGlobalExtendedAttributesTarEntry(new Dictionary<string, string> { ["comment"] = "git archive" }));
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "aclImdb/"));
            tar.WriteEntry(File("aclImdb/README", "hi"));
        });
        Assert.Equal(1, SafeTarExtractor.Extract(dir["pax.tar"], dir["out"]));
        Assert.Equal("hi", System.IO.File.ReadAllText(Path.Combine(dir["out"], "aclImdb", "README")));
        Assert.Equal(["aclImdb"], Directory.GetFileSystemEntries(dir["out"]).Select(Path.GetFileName));
    }

    [Fact]
    public void ExtractsAGoodArchive()
    {
        using var dir = new TextTestSupport.TempDir();
        TextTestSupport.WriteTarGz(dir["ok.tar.gz"], TextTestSupport.TinyImdb());
        Assert.Equal(12, SafeTarExtractor.Extract(dir["ok.tar.gz"], dir["out"]));
        Assert.Equal("Not good.", System.IO.File.ReadAllText(Path.Combine(dir["out"], "aclImdb", "test", "neg", "0_3.txt")));
        Assert.Throws<IOException>(() => SafeTarExtractor.Extract(dir["ok.tar.gz"], dir["out"]));
    }
}
