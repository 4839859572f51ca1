using System.Text.Json;

namespace BertSharp;

/// <summary>
/// An error caused by the caller's input, settings or files, with a one-line message that names the file or
/// option and the problem. Anything else that escapes the library is a bug.
/// </summary>
public class BertSharpException(string message, ErrorKind kind = ErrorKind.BadInput, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>What kind of problem this is (the command line's exit code follows from it).</summary>
    public ErrorKind Kind { get; } = kind;

    /// <summary>The properties of a request or options type that the message names, spelled as in code
    /// (<c>LearningRate: must be positive, got -1</c>), so that a caller with its own names for them (the command line's
    /// flags) can say the message its way (<see cref="MessageNaming"/>); empty when it names none.</summary>
    public IReadOnlyList<string> Properties { get; init; } = [];

    /// <summary>The message with each of <see cref="Properties"/> replaced by <paramref name="nameOf"/>'s name for it
    /// (the command line: its flag), where the message names it as a word of its own (not inside a path).</summary>
    public string MessageNaming(Func<string, string> nameOf)
    {
        string message = Message;
        foreach (var property in Properties.Where(p => p.Length > 0))
            message = PropertyIn(property).Replace(message, _ => nameOf(property));
        return message;
    }

    /// <summary>A property's name as a word of the message: not part of a longer name, a path or a file name.</summary>
    private static System.Text.RegularExpressions.Regex PropertyIn(string property) =>
        new($@"(?<![\w/\\.-]){System.Text.RegularExpressions.Regex.Escape(property)}(?![\w/\\]|\.\w)");

    /// <summary>
    /// True for the .NET exceptions that report a problem with the caller's files or values rather than a bug: a
    /// missing, unreadable, truncated or malformed file, a refused download, an invalid argument value. The one rule
    /// the library (<see cref="Guard{T}"/>) and the command line use to tell input problems from bugs.
    /// </summary>
    public static bool IsInputProblem(Exception e) => e is FileNotFoundException or DirectoryNotFoundException
        or EndOfStreamException or InvalidDataException or UnauthorizedAccessException or JsonException
        or System.Net.Http.HttpRequestException
        or ArgumentException and not (ArgumentOutOfRangeException or ArgumentNullException)
        || e.GetType() == typeof(IOException);

    /// <summary>
    /// Runs <paramref name="work"/>, turning an input problem (<see cref="IsInputProblem"/>) into a
    /// <see cref="BertSharpException"/> of <paramref name="kind"/> whose message names <paramref name="source"/>
    /// (a file or folder) when the original message does not. Anything else propagates unchanged.
    /// </summary>
    public static T Guard<T>(Func<T> work, ErrorKind kind = ErrorKind.BadInput, string? source = null)
    {
        try { return work(); }
        catch (Exception e) when (e is not BertSharpException && IsInputProblem(e))
        {
            string message = source is null || e.Message.Contains(source, StringComparison.Ordinal) ? e.Message : $"{source}: {e.Message}";
            throw new BertSharpException(message, kind, e);
        }
    }
}
