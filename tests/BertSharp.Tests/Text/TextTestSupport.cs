using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>Helpers for the text tests: temporary folders, small archives, the fixtures, running the CLI.</summary>
internal static class TextTestSupport
{
    public static string Fixture(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "BertSharp.Tests", "Text", "Fixtures", name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"fixture {name} not found above {AppContext.BaseDirectory}");
    }

    public static Vocabulary SmallVocab(params string[] tokens) =>
        Vocabulary.FromTokens(Vocabulary.DefaultSpecialTokens.Concat(tokens));

    /// <summary>Writes a .tar.gz holding the given files (name → UTF-8 text).</summary>
    public static void WriteTarGz(string path, IEnumerable<(string Name, string Text)> files)
    {
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        using var tar = new TarWriter(gz, TarEntryFormat.Pax);
        foreach (var (name, text) in files)
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) };
            tar.WriteEntry(entry);
        }
    }

    /// <summary>A tiny IMDB-shaped archive: two reviews per labelled split, one unsup, and files to ignore.</summary>
    public static List<(string Name, string Text)> TinyImdb() =>
    [
        ("aclImdb/README", "not a review"),
        ("aclImdb/imdb.vocab", "the\nmovie\n"),
        ("aclImdb/train/pos/0_9.txt", "A great movie. I loved it!<br /><br />Mr. Smith was superb."),
        ("aclImdb/train/pos/1_7.txt", "Good fun &amp; nice music."),
        ("aclImdb/train/neg/0_2.txt", "Terrible... Really bad. The end"),
        ("aclImdb/train/neg/1_1.txt", "Awful.<br />Just awful."),
        ("aclImdb/train/unsup/0_0.txt", "Some unlabelled review text."),
        ("aclImdb/train/urls_pos.txt", "http://example.com"),
        ("aclImdb/test/pos/0_10.txt", "Best film of the year."),
        ("aclImdb/test/pos/1_8.txt", "Worth it."),
        ("aclImdb/test/neg/0_3.txt", "Not good."),
        ("aclImdb/test/neg/1_4.txt", "Meh. <br/>Skip it."),
    ];

    public sealed class TempDir : IDisposable
    {
        public TempDir() => Path = Directory.CreateTempSubdirectory("bertsharp-text-test-").FullName;
        public string Path { get; }
        public string this[string name] => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Runs the bertsharp CLI in its own process (console output is process-wide).</summary>
    public static (int Code, string Out, string Err) RunCli(string? stdin, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "BertSharp.Cli.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_TieredPGO"] = "0";
        using var p = Process.Start(psi)!;
        if (stdin != null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException("bertsharp did not finish in 60 s"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
