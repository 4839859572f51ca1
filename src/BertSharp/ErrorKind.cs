namespace BertSharp;

/// <summary>What kind of problem a <see cref="BertSharpException"/> reports. The command line maps each kind to
/// one exit code (the README's table); a library caller can branch on it.</summary>
public enum ErrorKind
{
    /// <summary>A bad option or argument value, or options that exclude each other.</summary>
    Usage,
    /// <summary>A missing or unreadable input file or folder, a corpus without text, an input without [MASK]...</summary>
    BadInput,
    /// <summary>An unreadable checkpoint, model or run folder (corrupt, truncated, missing files).</summary>
    BadCheckpoint,
    /// <summary>The settings contradict the run folder or checkpoint they are applied to.</summary>
    Conflict,
    /// <summary>Training stopped because a loss, gradient norm or other value stopped being finite.</summary>
    Diverged,
    /// <summary>The run or output folder is in use by another process (its lock file names the process).</summary>
    InUse,
}
