namespace BertSharp.Text;

/// <summary>Whether a process of this machine still runs: how leftovers of killed runs (a partial extraction, a
/// temporary evaluation store named after its process id) are told from those of a live one.</summary>
public static class ProcessStatus
{
    /// <summary>True while process <paramref name="pid"/> runs; false when there is no such process or it has ended.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }      // no such process
        catch (InvalidOperationException) { return false; }
    }
}
