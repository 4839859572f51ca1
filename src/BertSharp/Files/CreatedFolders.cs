namespace BertSharp.Files;

/// <summary>The folders a command is about to create for its output (the output folder and its missing parents), so a
/// command that fails can remove those it left empty: a refused or failed command leaves no empty folder behind.</summary>
public static class CreatedFolders
{
    /// <summary><paramref name="folder"/> and each of its parents that does not exist yet, deepest first.</summary>
    public static List<string> Missing(string folder)
    {
        var missing = new List<string>();
        for (var d = new DirectoryInfo(Path.GetFullPath(folder)); d is not null && !d.Exists; d = d.Parent)
            missing.Add(d.FullName);
        return missing;
    }

    /// <summary>Removes the folders of <paramref name="created"/> (deepest first) while they are empty; failures are
    /// ignored (cleanup after an error that is already being reported).</summary>
    public static void RemoveEmpty(IReadOnlyList<string> created)
    {
        foreach (var d in created)
        {
            try
            {
                if (!Directory.Exists(d) || Directory.EnumerateFileSystemEntries(d).Any()) return;
                Directory.Delete(d);
            }
            catch (IOException) { return; }
            catch (UnauthorizedAccessException) { return; }
        }
    }
}
