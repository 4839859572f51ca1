using System.Security.Cryptography;
using BertSharp.Files;

namespace BertSharp.Text;

/// <summary>
/// The bundled sample corpus: 1,000 synthetic review-like documents (one sentence per line, a blank line between
/// documents, 390 KB; <c>tools/sample/make_sample_corpus.py</c>), what <c>pretrain</c> trains on without a corpus.
/// It is built into the library (an embedded resource), so a program that references only the library has it too.
/// </summary>
public static class SampleCorpus
{
    private const string Resource = "BertSharp.Text.Sample.reviews.txt";
    private static readonly Lazy<(string Sha256, long Length)> Digest = new(() =>
    {
        using var s = Open();
        var hash = SHA256.HashData(s);
        return (Convert.ToHexStringLower(hash), s.Length);
    });

    /// <summary>The text as a read-only UTF-8 stream (the caller disposes it).</summary>
    public static Stream Open() =>
        typeof(SampleCorpus).Assembly.GetManifestResourceStream(Resource)
        ?? throw new InvalidOperationException($"{Resource}: the sample corpus is missing from the library assembly");

    /// <summary>Its SHA-256, lower-case hex.</summary>
    public static string Sha256 => Digest.Value.Sha256;

    /// <summary>
    /// A file holding the sample, for code that reads corpora from paths (<see cref="CorpusReader.Open"/>, a pretraining
    /// request's corpus): in <see cref="CacheFolder"/>, or the temporary folder's <c>bertsharp-sample</c> when that cannot
    /// be written (see <see cref="FilePath(string)"/>).
    /// </summary>
    public static string FilePath()
    {
        try { return FilePath(CacheFolder(Environment.GetEnvironmentVariable)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return FilePath(Path.Combine(Path.GetTempPath(), "bertsharp-sample")); // a read-only home
        }
    }

    /// <summary>
    /// A file in <paramref name="folder"/> holding the sample, named after its hash (<c>reviews-HASH.txt</c>): written
    /// (atomically) when missing or different, else left as it is, so its path and time — a corpus's fingerprint —
    /// stay the same from run to run and a run's tokenized store stays valid; another sample gets another file.
    /// </summary>
    public static string FilePath(string folder)
    {
        string path = Path.Combine(folder, $"reviews-{Sha256[..16]}.txt");
        if (Holds(path)) return path;
        Directory.CreateDirectory(folder);
        AtomicFile.Write(path, destination =>
        {
            using var source = Open();
            source.CopyTo(destination);
        });
        return path;
    }

    /// <summary>Where <see cref="FilePath()"/> writes: <c>$XDG_CACHE_HOME/bertsharp/sample</c>, else
    /// <c>~/.cache/bertsharp/sample</c>, else the temporary folder's <c>bertsharp-sample</c>.</summary>
    public static string CacheFolder(Func<string, string?> environment)
    {
        if (environment("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "bertsharp", "sample");
        if (environment("HOME") is { Length: > 0 } home) return Path.Combine(home, ".cache", "bertsharp", "sample");
        return Path.Combine(Path.GetTempPath(), "bertsharp-sample");
    }

    // Whether path holds exactly the sample (its length, then its hash).
    private static bool Holds(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists || file.Length != Digest.Value.Length) return false;
        using var s = file.OpenRead();
        return Convert.ToHexStringLower(SHA256.HashData(s)) == Sha256;
    }
}
