using System.Security.Cryptography;
using BertSharp.Files;

namespace BertSharp.Tests.Interface;

/// <summary>What the safety tests compare before and after a command: every entry under a folder (links as links,
/// special files by kind), each regular file with its SHA-256 — any change, leftover .tmp or new empty folder shows.</summary>
internal static class FolderSnapshot
{
    public static string Of(string root)
    {
        var lines = new List<string>();
        foreach (var e in new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                     .OrderBy(e => e.FullName, StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(root, e.FullName);
            if (e.LinkTarget is { } target) lines.Add($"{rel} -> {target}");
            else if (e is DirectoryInfo) lines.Add($"{rel}/");
            else if (OutputPaths.SpecialFileKind(e.FullName) is { } kind) lines.Add($"{rel} ({kind})");
            else lines.Add($"{rel} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(e.FullName)))}");
        }
        return string.Join("\n", lines);
    }
}
