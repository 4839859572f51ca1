namespace BertSharp.Files;

/// <summary>The folder swap: a complete folder written beside its target takes the target's place in two renames,
/// and the previous folder is deleted only once the new one is in place (a failure puts it back).</summary>
public static class AtomicFolder
{
    /// <summary>Puts the complete folder <paramref name="built"/> in place of <paramref name="target"/>.</summary>
    public static void Replace(string built, string target)
    {
        target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        if (!Directory.Exists(target)) { Directory.Move(built, target); return; }
        string old = Path.Combine(Path.GetDirectoryName(target)!, "." + Path.GetFileName(target) + ".old-" + Environment.ProcessId);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        Directory.Move(target, old);
        try { Directory.Move(built, target); }
        catch { Directory.Move(old, target); throw; }
        Directory.Delete(old, recursive: true);
    }

    /// <summary>Deletes <paramref name="folder"/> and everything in it when it exists, ignoring failures (cleanup
    /// after an error that is already being reported).</summary>
    public static void TryDelete(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
