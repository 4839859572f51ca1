using System.Runtime.InteropServices;

namespace BertSharp.IO;

/// <summary>
/// The checks made before anything is written or replaced: an output that is, contains or lies inside one of the
/// inputs it is made from is refused (replacing it with <c>--force</c> would delete the inputs), and so is an output
/// path that exists but is neither a regular file nor a folder (a device, a pipe, a socket).
/// </summary>
public static class OutputPaths
{
    /// <summary>Refuses <paramref name="output"/> when it is, contains or lies inside any of <paramref name="inputs"/>
    /// (symbolic links resolved), with a <see cref="ErrorKind.Usage"/> error naming <paramref name="option"/>.</summary>
    /// <param name="output">The file or folder about to be written.</param>
    /// <param name="option">How the caller named it (<c>--out</c>), for the message.</param>
    /// <param name="inputs">The files and folders it is made from (null entries are skipped).</param>
    public static void RequireApart(string output, string option, params string?[] inputs)
    {
        string o = RealPath(output);
        foreach (var input in inputs)
        {
            if (string.IsNullOrEmpty(input)) continue;
            string i = RealPath(input);
            string? how = o == i ? "is" : Inside(i, o) ? "contains" : Inside(o, i) ? "lies inside" : null;
            if (how is not null)
                throw new BertSharpException($"{option} {output}: {how} the input {input}; writing there would destroy what it is made from (choose another folder)",
                    ErrorKind.Usage);
        }
    }

    /// <summary>Refuses <paramref name="output"/> when it is empty, or exists and is not a regular file or folder.</summary>
    public static void RequireWritable(string output, string option)
    {
        if (string.IsNullOrWhiteSpace(output)) throw new BertSharpException($"{option}: the path is empty", ErrorKind.Usage);
        if (SpecialFileKind(output) is { } kind)
            throw new BertSharpException($"{option} {output}: exists and is a {kind}, not a regular file or folder", ErrorKind.Usage);
    }

    /// <summary>True when <paramref name="path"/> lies strictly inside <paramref name="folder"/> (both full, resolved).</summary>
    private static bool Inside(string path, string folder)
    {
        string f = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path.Length > f.Length && path.StartsWith(f, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The full path of <paramref name="path"/> with every symbolic link among its existing components resolved.</summary>
    public static string RealPath(string path) => PathNames.RealPath(path);

    /// <summary>"device", "pipe", "socket" for such an existing path (Linux; null elsewhere, for regular files,
    /// folders and missing paths). Symbolic links are followed.</summary>
    public static string? SpecialFileKind(string path)
    {
        if (!OperatingSystem.IsLinux() || (!File.Exists(path) && !Directory.Exists(path))) return null;
        try
        {
            Span<byte> buffer = stackalloc byte[256];
            if (Statx(-100 /* AT_FDCWD */, path, 0, 1 /* STATX_TYPE */, ref MemoryMarshal.GetReference(buffer)) != 0) return null;
            int type = BitConverter.ToUInt16(buffer[28..30]) & 0xF000; // stx_mode
            return type switch
            {
                0x8000 or 0x4000 => null, // regular file, directory
                0x2000 or 0x6000 => "device",
                0x1000 => "pipe",
                0xC000 => "socket",
                _ => "special file",
            };
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, ref byte buffer);
}
