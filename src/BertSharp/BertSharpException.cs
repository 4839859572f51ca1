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
}

/// <summary>
/// An error caused by the caller's input, settings or files, with a one-line message that names the file or
/// option and the problem. Anything else that escapes the library is a bug.
/// </summary>
public class BertSharpException(string message, ErrorKind kind = ErrorKind.BadInput, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>What went wrong, in the classes the CLI maps to exit codes.</summary>
    public ErrorKind Kind { get; } = kind;
}
