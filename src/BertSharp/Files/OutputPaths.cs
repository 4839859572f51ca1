using System.Runtime.InteropServices;

namespace BertSharp.Files;

/// <summary>
/// The one output-safety rule, checked before anything is read, trained or written (<see cref="Check"/>): an output
/// that is, contains or lies inside one of the inputs it is made from is refused (replacing it would delete the
/// inputs, even when the caller allows replacing); an output path that exists and is not a regular file or folder
/// (a device, a pipe, a socket, a symbolic link) is refused; an existing output is replaced only when the caller
/// says so. Every writer of the library and every command that writes goes through it.
/// </summary>
public static class OutputPaths
{
    /// <summary>
    /// The whole rule for one output: <see cref="RequireWritable"/> (not empty, not a device, pipe, socket or
    /// symbolic link), the right kind when it exists (a file where a file is written, a folder where a folder is),
    /// <see cref="RequireApart"/> from every input (<see cref="ErrorKind.Usage"/>), and an existing file or non-empty
    /// folder (its lock file aside) only when <paramref name="replace"/> (<see cref="ErrorKind.BadInput"/> otherwise).
    /// </summary>
    /// <param name="output">The file or folder about to be written.</param>
    /// <param name="name">How the caller named it (a property such as <c>OutputDir</c>, or a parameter), for the messages
    /// and <see cref="BertSharpException.Properties"/>.</param>
    /// <param name="folder">True when the output is a folder, false when it is a file.</param>
    /// <param name="replace">Whether an existing output may be replaced.</param>
    /// <param name="replaceName">How the caller names the permission to replace (a property such as <c>Force</c>), for the message.</param>
    /// <param name="inputs">The files and folders it is made from (null or empty entries are skipped).</param>
    public static void Check(string output, string name, bool folder, bool replace, string replaceName, params string?[] inputs)
    {
        RequireWritable(output, name);
        if (folder && File.Exists(output))
            throw new BertSharpException($"{name} {output}: is a file; give a folder", ErrorKind.Usage) { Properties = [name] };
        if (!folder && Directory.Exists(output))
            throw new BertSharpException($"{name} {output}: is a folder; give a file name", ErrorKind.Usage) { Properties = [name] };
        RequireApart(output, name, inputs);
        if (replace) return;
        bool exists = folder
            ? Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(e => Path.GetFileName(e) != RunLock.FileName)
            : File.Exists(output);
        if (exists)
            throw new BertSharpException($"{name} {output}: already exists{(folder ? " and is not empty" : "")} (choose another path, or {replaceName} to replace it)") { Properties = [name, replaceName] };
    }

    /// <summary>Refuses an input that is or lies inside one of <paramref name="managed"/>, the names a run folder
    /// writes and replaces (its vocabulary, tokenized store, checkpoints...), and a run folder that is or lies inside
    /// an input (<see cref="ErrorKind.Usage"/>): the folder itself may hold the user's other files, the corpus among them.</summary>
    /// <param name="runFolder">The run folder.</param>
    /// <param name="name">How the caller named it, for the message.</param>
    /// <param name="managed">The names inside <paramref name="runFolder"/> that the run writes.</param>
    /// <param name="inputs">The files and folders the run reads.</param>
    public static void RequireApartFromManaged(string runFolder, string name, IEnumerable<string> managed, params string?[] inputs)
    {
        RequireWritable(runFolder, name);
        if (File.Exists(runFolder)) throw new BertSharpException($"{name} {runFolder}: is a file; give a folder", ErrorKind.Usage) { Properties = [name] };
        string folder = RealPath(runFolder);
        foreach (var input in inputs)
        {
            if (string.IsNullOrEmpty(input)) continue;
            string i = RealPath(input);
            if (i == folder || Inside(folder, i))
                throw new BertSharpException($"{name} {runFolder}: {(i == folder ? "is" : "lies inside")} the input {input}; the run would read its own files as input (choose another folder)", ErrorKind.Usage) { Properties = [name] };
            foreach (var m in managed)
            {
                string own = Path.Combine(folder, m);
                if (i == own || Inside(i, own))
                    throw new BertSharpException($"{name} {runFolder}: the input {input} is the run's own {m}, which the run writes and replaces; move it out of the run folder", ErrorKind.Usage) { Properties = [name] };
            }
        }
    }

    /// <summary>Refuses <paramref name="output"/> when it is, contains or lies inside any of <paramref name="inputs"/>
    /// (symbolic links resolved), with a <see cref="ErrorKind.Usage"/> error naming <paramref name="option"/>.</summary>
    /// <param name="output">The file or folder about to be written.</param>
    /// <param name="option">How the caller named it (a property such as <c>OutputDir</c>), for the message.</param>
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
                    ErrorKind.Usage) { Properties = [option] };
        }
    }

    /// <summary>Refuses <paramref name="output"/> when it is empty, is a symbolic link (writing would replace the link
    /// or what it points to), or exists and is not a regular file or folder (a device, a pipe, a socket).</summary>
    public static void RequireWritable(string output, string option)
    {
        if (string.IsNullOrWhiteSpace(output)) throw new BertSharpException($"{option}: the path is empty", ErrorKind.Usage) { Properties = [option] };
        if (IsSymbolicLink(output))
            throw new BertSharpException($"{option} {output}: is a symbolic link{(SpecialFileKind(output) is { } to ? $" to a {to}" : "")}; give the real path of a regular file or folder", ErrorKind.Usage) { Properties = [option] };
        if (SpecialFileKind(output) is { } kind)
            throw new BertSharpException($"{option} {output}: exists and is a {kind}, not a regular file or folder", ErrorKind.Usage) { Properties = [option] };
    }

    /// <summary>True when the last component of <paramref name="path"/> is a symbolic link (dangling or not).</summary>
    public static bool IsSymbolicLink(string path)
    {
        try { return new FileInfo(Path.TrimEndingDirectorySeparator(path)).LinkTarget is not null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { return false; }
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
