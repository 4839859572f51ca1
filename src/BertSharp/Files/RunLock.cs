using System.Diagnostics;
using System.Text.Json;

namespace BertSharp.Files;

/// <summary>
/// One process at a time per run or output folder: <c>FOLDER/.bertsharp.lock</c>, created atomically (create-new) and
/// holding the owner's process id, host and start time. A lock whose process is gone (killed, crashed, the machine
/// rebooted) is stale and taken over; a lock held by a live process is refused with <see cref="ErrorKind.InUse"/>.
/// Disposing releases the lock (deletes the file if it is still this process's, and the folders the lock created if they
/// are left empty). A lock that cannot be written (a full disk) is <see cref="ErrorKind.BadInput"/> and leaves no file.
/// <code>
/// using var held = RunLock.Acquire("runs/mine");
/// </code>
/// </summary>
public sealed class RunLock : IDisposable
{
    /// <summary>The lock file's name inside the folder.</summary>
    public const string FileName = ".bertsharp.lock";

    private readonly string _path;
    private readonly string _content;
    private readonly List<string> _created;
    private bool _released;

    private RunLock(string path, string content, List<string> created) => (_path, _content, _created) = (path, content, created);

    /// <summary>The lock file.</summary>
    public string Path => _path;

    /// <summary>What a lock file holds.</summary>
    private sealed record Owner(int Pid, string Host, long StartedUnixMs);

    /// <summary>Takes the lock of <paramref name="folder"/> (created if missing) for this process; a stale lock (its
    /// process is gone) is taken over. <see cref="ErrorKind.InUse"/> when a live process holds it.</summary>
    public static RunLock Acquire(string folder)
    {
        var created = CreatedFolders.Missing(folder);
        string path = System.IO.Path.Combine(folder, FileName);
        // On a full disk even the folder may not fit (a directory takes a block on most file systems).
        try { Directory.CreateDirectory(folder); }
        catch (IOException e) when (IsDiskFull(e))
        {
            CreatedFolders.RemoveEmpty(created);
            throw CannotWrite(folder, path, e);
        }
        var me = new Owner(Environment.ProcessId, Environment.MachineName, StartedUnixMs(Process.GetCurrentProcess()));
        string content = JsonSerializer.Serialize(new Dictionary<string, object> { ["pid"] = me.Pid, ["host"] = me.Host, ["started_unix_ms"] = me.StartedUnixMs }) + "\n";
        for (int attempt = 0; attempt < 5; attempt++)
        {
            FileStream file;
            try { file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0); }
            catch (IOException) when (File.Exists(path))
            {
                string held;
                try { held = File.ReadAllText(path); }
                catch (FileNotFoundException) { continue; } // released meanwhile: try again
                var owner = Parse(held);
                // A process that is ending (say, the ranks of an mpirun job that just failed) gets a few seconds to go.
                if (owner is not null && owner.Pid != me.Pid)
                    for (int wait = 0; wait < 50 && IsAlive(owner); wait++) Thread.Sleep(100);
                if (owner is not null && IsAlive(owner))
                    throw new BertSharpException(
                        $"{folder}: in use by process {owner.Pid}{(owner.Host == me.Host ? "" : $" on {owner.Host}")} ({path}); "
                        + "wait for it to finish or stop it (a lock left by a process that no longer runs is taken over by itself)", ErrorKind.InUse);
                if (owner is null && Fresh(path))
                {
                    // Being written by a process that has just created it: wait a moment and look again.
                    Thread.Sleep(50);
                    continue;
                }
                // Stale: move it aside under a name of our own (only one process wins the rename), then create ours.
                string aside = path + ".stale-" + me.Pid;
                try { File.Move(path, aside, overwrite: true); }
                catch (FileNotFoundException) { continue; }
                string moved = SafeRead(aside);
                if (moved != held && Parse(moved) is { } other && IsAlive(other))
                {
                    // Another process replaced the stale lock between our read and our rename: put its lock back.
                    try { File.Move(aside, path, overwrite: false); } catch (IOException) { }
                    continue;
                }
                try { File.Delete(aside); } catch (IOException) { }
                continue;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                CreatedFolders.RemoveEmpty(created);
                throw CannotWrite(folder, path, e);
            }
            try
            {
                // Unbuffered: a full disk fails this write, not a flush at the end that would leave an empty lock.
                using (file) file.Write(System.Text.Encoding.UTF8.GetBytes(content));
                return new RunLock(path, content, created);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Our own file, never complete: removed, so no empty lock is left for the next process to wonder about.
                try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                CreatedFolders.RemoveEmpty(created);
                throw CannotWrite(folder, path, e);
            }
        }
        CreatedFolders.RemoveEmpty(created);
        throw new BertSharpException($"{folder}: could not take the lock {path} (other processes keep taking it)", ErrorKind.InUse);
    }

    /// <summary>A lock that cannot be written (a full disk, a read-only folder) is bad input (exit 3) that says so, not
    /// "in use" (exit 7).</summary>
    private static BertSharpException CannotWrite(string folder, string path, Exception e) =>
        new($"{folder}: cannot write the lock file {path}: "
            + (IsDiskFull(e) ? "no space left on the device; free some space and run again" : e.Message), ErrorKind.BadInput, e);

    /// <summary>True for ENOSPC (and Windows' ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL).</summary>
    public static bool IsDiskFull(Exception e) =>
        e is IOException && (e.HResult is 28 or unchecked((int)0x80070070) or unchecked((int)0x80070027)
                             || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase));

    /// <summary>True when <paramref name="folder"/> holds a lock of a live process (for messages; <see cref="Acquire"/> decides).</summary>
    public static bool IsHeld(string folder)
    {
        string path = System.IO.Path.Combine(folder, FileName);
        return File.Exists(path) && Parse(SafeRead(path)) is { } o && IsAlive(o);
    }

    private static string SafeRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    private static bool Fresh(string path)
    {
        try { return DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < TimeSpan.FromSeconds(2); }
        catch (IOException) { return false; }
    }

    private static Owner? Parse(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var r = doc.RootElement;
            return new Owner(r.GetProperty("pid").GetInt32(), r.GetProperty("host").GetString() ?? "",
                r.TryGetProperty("started_unix_ms", out var s) ? s.GetInt64() : 0);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException) { return null; }
    }

    /// <summary>Whether the lock's owner still runs: the same process id with the same start time on this host (a reused
    /// id of another program is not the owner). A lock from another host cannot be checked and counts as live.</summary>
    private static bool IsAlive(Owner o)
    {
        if (o.Host != Environment.MachineName) return true;
        try
        {
            using var p = Process.GetProcessById(o.Pid);
            if (p.HasExited || IsZombie(o.Pid)) return false;
            long started = StartedUnixMs(p);
            return o.StartedUnixMs == 0 || started == 0 || Math.Abs(started - o.StartedUnixMs) < 2000;
        }
        catch (ArgumentException) { return false; }      // no such process
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>True for a process that has ended but not been reaped yet (Linux state Z or X).</summary>
    private static bool IsZombie(int pid)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] is 'Z' or 'X';
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private static long StartedUnixMs(Process p)
    {
        try { return new DateTimeOffset(p.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds(); }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException) { return 0; }
    }

    /// <summary>Releases the lock: deletes the file when it is still this process's.</summary>
    public void Dispose()
    {
        if (_released) return;
        _released = true;
        try { if (File.Exists(_path) && File.ReadAllText(_path) == _content) File.Delete(_path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        // A folder the lock made and the command left empty (it failed before writing anything) goes too.
        CreatedFolders.RemoveEmpty(_created);
    }
}
