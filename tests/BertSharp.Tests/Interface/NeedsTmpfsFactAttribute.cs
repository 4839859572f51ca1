using System.Diagnostics;

namespace BertSharp.Tests.Interface;

/// <summary>Skips unless this process may mount a small tmpfs (root with CAP_SYS_ADMIN): the disk-full tests fill one
/// rather than a real disk.</summary>
public sealed class NeedsTmpfsFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Why = new(Probe);

    public NeedsTmpfsFactAttribute()
    {
        if (Why.Value is { } why) Skip = why;
    }

    /// <summary>Mounts a tmpfs of <paramref name="kilobytes"/> (and at most <paramref name="inodes"/> files and folders,
    /// when given) at <paramref name="folder"/> (created); null when it worked, else why not.</summary>
    public static string? Mount(string folder, int kilobytes, int? inodes = null)
    {
        Directory.CreateDirectory(folder);
        return Exec("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k" + (inodes is int n ? $",nr_inodes={n}" : ""), "tmpfs", folder);
    }

    public static void Unmount(string folder) => Exec("umount", folder);

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root") return "needs root on Linux to mount a small tmpfs";
        string probe = Directory.CreateTempSubdirectory("bertsharp-tmpfs-").FullName;
        try
        {
            if (Mount(probe, 64) is { } why) return $"cannot mount a tmpfs: {why}";
            Unmount(probe);
            return null;
        }
        finally { try { Directory.Delete(probe); } catch (IOException) { } }
    }

    private static string? Exec(string file, params string[] args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : err.Trim();
        }
        catch (System.ComponentModel.Win32Exception e) { return e.Message; }
    }
}
