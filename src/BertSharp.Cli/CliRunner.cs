using System.CommandLine;

namespace BertSharp.Cli;

/// <summary>Runs the command tree with BertSharp's error conventions: every error prints one line to stderr and
/// returns the exit code of <see cref="ExitCode(Exception)"/> (a <see cref="BertSharpException"/> by its kind), with the
/// stack trace only under --verbose.</summary>
public static class CliRunner
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitBadInput = 3;
    /// <summary>A checkpoint or run folder is unreadable (corrupt, truncated, missing files).</summary>
    public const int ExitBadCheckpoint = 4;
    /// <summary>The options contradict the run folder or checkpoint (another model, vocabulary or sequence length).</summary>
    public const int ExitConflict = 5;
    /// <summary>Training stopped because the loss or gradient norm stopped being finite.</summary>
    public const int ExitDiverged = 6;
    /// <summary>The run or output folder is in use by another process (one process at a time per folder).</summary>
    public const int ExitInUse = 7;
    public const int ExitInterrupted = 130;

    /// <summary>The README's exit code for a library error: the one mapping from kinds to codes.</summary>
    public static int ExitCode(BertSharpException e) => e.Kind switch
    {
        ErrorKind.Usage => ExitUsage,
        ErrorKind.BadInput => ExitBadInput,
        ErrorKind.BadCheckpoint => ExitBadCheckpoint,
        ErrorKind.Conflict => ExitConflict,
        ErrorKind.Diverged => ExitDiverged,
        ErrorKind.InUse => ExitInUse,
        _ => ExitFailure,
    };

    /// <summary>
    /// The exit code of any exception that ends a command: the one place errors become codes. A
    /// <see cref="BertSharpException"/> by its kind; .NET's own exceptions for unreadable input (a missing, unreadable or
    /// malformed file, a failed download, an argument the library refused) are bad input, as the library code that
    /// still throws them names the file or value in the message; anything else is a bug.
    /// </summary>
    public static int ExitCode(Exception e) => e switch
    {
        BertSharpException b => ExitCode(b),
        _ when BertSharpException.IsInputProblem(e) => ExitBadInput,
        _ => ExitFailure,
    };

    /// <summary>The root command with every registered command.</summary>
    public static RootCommand CreateRoot()
    {
        var root = CommandRegistry.CreateRoot("BertSharp: pretrain BERT language models from scratch in .NET.");
        foreach (var command in CommandRegistry.All())
            root.Subcommands.Add(command);
        // Taken out of the arguments before parsing (RunAsync); declared so that every command's help shows it.
        root.Options.Add(new Option<bool>("--verbose") { Description = "On an error, also print the stack trace", Recursive = true });
        return root;
    }

    /// <summary>An error message as the user sees it: System.CommandLine's "as expected type 'System.Int32'" becomes what the
    /// value should be, and .NET's " (Parameter 'name')" suffix is dropped: no .NET type or parameter name reaches the user.</summary>
    public static string UserMessage(string message)
    {
        message = System.Text.RegularExpressions.Regex.Replace(message,
            @"Cannot parse argument '(?<v>[^']*)' for (?:option|command|argument) '(?<o>[^']*)' as expected type '(?<t>[^']+)'\.?",
            m => $"{m.Groups["o"].Value}: '{m.Groups["v"].Value}' is not {TypeWords(m.Groups["t"].Value)}");
        message = System.Text.RegularExpressions.Regex.Replace(message, @" ?\(Parameter '[^']*'\)", "");
        return System.Text.RegularExpressions.Regex.Replace(message, @"System\.(?:Nullable`1\[)?[A-Za-z0-9_.]+\]?", m => TypeWords(m.Value));
    }

    private static string TypeWords(string type) => type switch
    {
        _ when type.Contains("UInt") => "a whole number of 0 or more",
        _ when type.Contains("Int") => "a whole number",
        _ when type.Contains("Double") || type.Contains("Single") || type.Contains("Decimal") => "a number",
        _ when type.Contains("Boolean") => "true or false",
        _ => "a valid value",
    };

    /// <param name="cancel">Cancels the running command (Program.cs links it to Ctrl+C; tests cancel it themselves).
    /// System.CommandLine's own Ctrl+C handling is off: its 2-second limit would kill a training step
    /// before the checkpoint is written.</param>
    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? stderr = null, CancellationToken cancel = default)
    {
        stderr ??= CliConsole.Err;
        bool verbose = args.Contains("--verbose");
        ParseResult? parse = null;
        try
        {
            parse = root.Parse(args.Where(a => a != "--verbose").ToArray());
            if (parse.Errors.Count > 0)
            {
                // One line, like every other error; --help shows the options.
                stderr.WriteLine($"error: {UserMessage(parse.Errors[0].Message)} (see --help)");
                return ExitUsage;
            }
            var config = new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
                Output = CliConsole.Out,
                Error = CliConsole.Err,
            };
            CliDevice.Select(parse, stderr);
            int result = await parse.InvokeAsync(config, cancel);
            CliWorld.End(result);
            return result;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("interrupted");
            CliWorld.End(ExitInterrupted);
            return ExitInterrupted;
        }
        catch (Exception e)
        {
            int code = ExitCode(e);
            // A bug keeps its type in the message; the user's errors are one plain line.
            // The library names its request's properties; the user reads the flags (FlagNames).
            string message = e is BertSharpException b ? FlagNames.Say(b, parse?.CommandResult.Command) : e.Message;
            stderr.WriteLine(code == ExitFailure ? $"error: {e.GetType().Name}: {message}" : $"error: {UserMessage(message)}");
            if (verbose) stderr.WriteLine(e);
            stderr.Flush();
            // Under mpirun: an error on any rank ends the whole job with this code (the other ranks may be waiting in a collective).
            CliWorld.End(code);
            return code;
        }
    }
}
