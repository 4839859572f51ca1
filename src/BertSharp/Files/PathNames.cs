namespace BertSharp.Files;

/// <summary>Path helpers shared by the layers (the corpus readers and the output checks).</summary>
internal static class PathNames
{
    /// <summary>The full path of <paramref name="path"/> with every symbolic link among its existing components resolved.</summary>
    internal static string RealPath(string path)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            try
            {
                if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                    current = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target.FullName));
            }
            catch (IOException) { } // a link loop: leave the path as it is written
        }
        return current;
    }

}
