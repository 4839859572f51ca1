namespace BertSharp.IO;

/// <summary>Whole-file writes that readers never see half done: a temporary file beside the target, then a rename.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> (UTF-8) to <paramref name="path"/> through <c>path.tmp</c> and a rename.</summary>
    public static void WriteAllText(string path, string text)
    {
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
