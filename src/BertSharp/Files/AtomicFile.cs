namespace BertSharp.Files;

/// <summary>Whole-file writes that readers never see half done: a temporary file beside the target, then a rename.
/// The target is never a device, pipe, socket or symbolic link (<see cref="OutputPaths.RequireWritable"/>), so a write
/// never replaces one; a failed write leaves the target as it was and no temporary file behind.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/> through a temporary file and a rename.</summary>
    public static void WriteAllText(string path, string text) => Write(path, s =>
    {
        using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false));
        w.Write(text);
    });

    /// <summary>Writes <paramref name="path"/> with <paramref name="write"/> (given a stream on a temporary file in the
    /// same folder), then renames the temporary file into place. The folder must exist.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        OutputPaths.RequireWritable(path, "path");
        string full = Path.GetFullPath(path);
        string tmp = TemporaryName(full);
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(f);
                // Onto the disk before the rename, so a crash never leaves the new name with missing contents (a writer
                // that closed the stream itself has flushed it to the system already).
                if (f.CanWrite) f.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>A temporary name beside <paramref name="full"/> of this process (a killed writer's leftovers are
    /// recognisable by <see cref="IsTemporary"/>).</summary>
    public static string TemporaryName(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    /// <summary>True for a name <see cref="TemporaryName"/> makes.</summary>
    public static bool IsTemporary(string name) => Path.GetFileName(name).StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal);

    /// <summary>Deletes <paramref name="path"/> when it exists, ignoring failures (cleanup after an error that is already being reported).</summary>
    public static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
