using System.CommandLine;
using System.CommandLine.Parsing;
using System.Reflection;

namespace BertSharp.Cli;

/// <summary>The list of top-level commands. Add a line per command file in Commands/.</summary>
public static class CommandRegistry
{
    /// <summary>The program's name, as the README, the hints and the installed tool spell it.</summary>
    public const string ProgramName = "bertsharp";

    public static IEnumerable<Command> All() => Commands().Select(CliDevice.AddTo).Select(RefuseEmptyValues);

    /// <summary>An empty string (<c>--out ""</c>, <c>""</c> for a model) is never a path or a value: a usage error
    /// (exit 2) naming the option, on every option and argument that takes one string, in every command.</summary>
    private static Command RefuseEmptyValues(Command command)
    {
        foreach (var option in command.Options)
            if (option is Option<string> or Option<string?>)
                option.Validators.Add(r =>
                {
                    if (r.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value))) r.AddError($"{option.Name}: the value is empty");
                });
        foreach (var argument in command.Arguments)
            if (argument is Argument<string> or Argument<string?>)
                argument.Validators.Add(r =>
                {
                    if (r.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value))) r.AddError($"<{argument.Name}>: the value is empty");
                });
        foreach (var sub in command.Subcommands) RefuseEmptyValues(sub);
        return command;
    }

    private static IEnumerable<Command> Commands()
    {
        yield return BertSharp.Cli.Commands.InfoCommand.Create();
        yield return BertSharp.Cli.Commands.DataCommand.Create();
        yield return BertSharp.Cli.Commands.TokenizerCommand.Create();
        yield return BertSharp.Cli.Commands.TokenizeCommand.Create();
        yield return BertSharp.Cli.Commands.PretrainCommand.Create();
        yield return BertSharp.Cli.Commands.EvaluateCommand.Create();
        yield return BertSharp.Cli.Commands.FillMaskCommand.Create();
        yield return BertSharp.Cli.Commands.NspCommand.Create();
        yield return BertSharp.Cli.Commands.FinetuneCommand.Create();
        yield return BertSharp.Cli.Commands.DistillCommand.Create();
        yield return BertSharp.Cli.Commands.ClassifyCommand.Create();
        yield return BertSharp.Cli.Commands.EmbedCommand.Create();
        yield return BertSharp.Cli.Commands.LogitsCommand.Create();
        yield return BertSharp.Cli.Commands.ExportCommand.Create();
        yield return BertSharp.Cli.Commands.ImportCommand.Create();
    }

    /// <summary>The root command, named <see cref="ProgramName"/> (not the assembly's name, which System.CommandLine
    /// would take, and which help would print as <c>BertSharp.Cli</c>); CliRunner.CreateRoot adds <see cref="All"/>. A
    /// first word that is no command is refused with the list of commands.</summary>
    public static RootCommand CreateRoot(string description)
    {
        var root = new RootCommand(description);
        // System.CommandLine 2.0 takes the root's name from the executable and offers no setter; InterfaceTests
        // fail if this stops working after a package update.
        typeof(Symbol).GetField("<Name>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic)?.SetValue(root, ProgramName);
        // Words the root cannot match land here instead of a bare "Unrecognized command or argument".
        var unknown = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Hidden = true };
        root.Arguments.Add(unknown);
        string CommandList() => string.Join(", ", root.Subcommands.Where(c => !c.Hidden).Select(c => c.Name));
        // No command at all: the same list (exit 2), rather than "Required command was not provided".
        Func<ParseResult, int> noCommand = _ => throw new BertSharpException(
            $"no command given; the commands are: {CommandList()} ({ProgramName} --help describes them)", ErrorKind.Usage);
        root.SetAction(noCommand);
        root.Validators.Add(result =>
        {
            if (result.GetValue(unknown) is not { Length: > 0 } words) return;
            string commands = CommandList();
            string w = words[0];
            result.AddError(w.StartsWith('-')
                ? $"{w}: not an option of {ProgramName} (the commands are: {commands}; {ProgramName} COMMAND --help lists a command's options)"
                : $"'{w}' is not a {ProgramName} command; the commands are: {commands}");
        });
        return root;
    }
}
