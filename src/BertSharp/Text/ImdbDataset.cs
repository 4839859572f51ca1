namespace BertSharp.Text;

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
