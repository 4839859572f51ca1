using System.CommandLine;

namespace BertSharp.Cli;

/// <summary>The list of top-level commands. Add a line per command file in Commands/.</summary>
public static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return Commands.InfoCommand.Create();
        yield return Commands.DataCommand.Create();
        yield return Commands.TokenizerCommand.Create();
        yield return Commands.TokenizeCommand.Create();
        yield return Commands.PretrainCommand.Create();
        yield return Commands.EvaluateCommand.Create();
        yield return Commands.FillMaskCommand.Create();
        yield return Commands.NspCommand.Create();
        yield return Commands.FinetuneCommand.Create();
        yield return Commands.ClassifyCommand.Create();
        yield return Commands.EmbedCommand.Create();
        yield return Commands.LogitsCommand.Create();
        yield return Commands.ExportCommand.Create();
        yield return Commands.ImportCommand.Create();
    }
}
