using System.CommandLine;

namespace BertSharp.Cli;

/// <summary>Runs the command tree with BertSharp's error conventions: a <see cref="UserException"/>
/// prints one line to stderr and returns its exit code; anything else prints one line too, with the
/// stack trace only under --verbose.</summary>
public static class CliRunner
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitBadInput = 3;
    public const int ExitInterrupted = 130;

    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? stderr = null)
    {
        stderr ??= Console.Error;
        bool verbose = args.Contains("--verbose");
        try
        {
            var parse = root.Parse(args.Where(a => a != "--verbose").ToArray());
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UserException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            if (verbose) stderr.WriteLine(e);
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("interrupted");
            return ExitInterrupted;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            if (verbose) stderr.WriteLine(e);
            return ExitFailure;
        }
    }
}

/// <summary>An error caused by the user's input (a bad path, a malformed file): reported as one line.</summary>
public sealed class UserException(string message, int exitCode = CliRunner.ExitBadInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
