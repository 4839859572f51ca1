using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using BertSharp.Text;
using BertSharp.Runs;

namespace BertSharp.Tests.Text;

public class SampleCorpusTests : IDisposable
{
    private readonly string _dir = Model.ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Source([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "src", "BertSharp", "Text", "Sample", "reviews.txt"));

    [Fact]
    public void The_library_carries_the_sample_corpus()
    {
        using var s = SampleCorpus.Open();
        var bytes = new MemoryStream();
        s.CopyTo(bytes);
        Assert.Equal(File.ReadAllBytes(Source()), bytes.ToArray());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes.ToArray())), SampleCorpus.Sha256);
        // 1,000 documents, a blank line between them, read as a corpus like any text file.
        var reader = CorpusReader.Open(SampleCorpus.FilePath(_dir));
        Assert.Equal(1000, reader.ReadDocuments().Count());
    }

    [Fact]
    public void Its_file_is_written_once_and_rewritten_only_when_it_differs()
    {
        string path = SampleCorpus.FilePath(Path.Combine(_dir, "cache"));
        Assert.Equal(File.ReadAllBytes(Source()), File.ReadAllBytes(path));
        Assert.StartsWith("reviews-", Path.GetFileName(path));
        Assert.Single(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!)); // no temporary file left

        // Unchanged: the same file, not written again (its time is part of a corpus's fingerprint).
        var written = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, written);
        Assert.Equal(path, SampleCorpus.FilePath(Path.Combine(_dir, "cache")));
        Assert.Equal(written, File.GetLastWriteTimeUtc(path));

        // Damaged (same length, one byte changed) or cut short: written again.
        var bytes = File.ReadAllBytes(path);
        bytes[100] ^= 1;
        File.WriteAllBytes(path, bytes);
        Assert.Equal(path, SampleCorpus.FilePath(Path.Combine(_dir, "cache")));
        Assert.Equal(File.ReadAllBytes(Source()), File.ReadAllBytes(path));
        File.WriteAllBytes(path, bytes[..10]);
        SampleCorpus.FilePath(Path.Combine(_dir, "cache"));
        Assert.Equal(File.ReadAllBytes(Source()), File.ReadAllBytes(path));
    }

    [Fact]
    public void The_cache_folder_follows_xdg_then_home_then_the_temporary_folder()
    {
        Assert.Equal(Path.Combine("/x", "bertsharp", "sample"), SampleCorpus.CacheFolder(n => n == "XDG_CACHE_HOME" ? "/x" : "/home/u"));
        Assert.Equal(Path.Combine("/home/u", ".cache", "bertsharp", "sample"), SampleCorpus.CacheFolder(n => n == "HOME" ? "/home/u" : null));
        Assert.Equal(Path.Combine(Path.GetTempPath(), "bertsharp-sample"), SampleCorpus.CacheFolder(_ => null));
    }

    [Fact]
    public void Pretraining_on_the_sample_reads_the_librarys_copy()
    {
        // What `pretrain` without --corpus uses; no copy beside the program is needed.
        string path = PretrainingRun.SamplePath;
        Assert.Equal(SampleCorpus.FilePath(), path);
        Assert.Equal(File.ReadAllBytes(Source()), File.ReadAllBytes(path));
    }
}
