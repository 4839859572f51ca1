using System.CommandLine;
using BertSharp.Tensors;

namespace BertSharp.Cli;

/// <summary>
/// <c>--device auto|cpu|cuda|cuda:N</c> and <c>--precision auto|fp32|tf32|bf16</c> on every command that runs a model:
/// the options, and the device the running
/// command uses (opened once before the command's action, its choice printed as one line on standard error).
/// </summary>
public static class CliDevice
{
    /// <summary>The commands that run a model and take <c>--device</c>.</summary>
    public static readonly IReadOnlySet<string> Commands =
        new HashSet<string>(StringComparer.Ordinal) { "pretrain", "finetune", "distill", "evaluate", "fill-mask", "nsp", "classify", "embed", "logits" };

    private const string OptionName = "--device";
    private const string PrecisionName = "--precision";
    private static readonly AsyncLocal<Device?> Selected = new();

    /// <summary>The device of the running command (the CPU outside one).</summary>
    public static Device Current => Selected.Value ?? Device.Cpu;

    /// <summary>Adds <c>--device</c> to <paramref name="command"/> when it runs a model.</summary>
    public static Command AddTo(Command command)
    {
        if (Commands.Contains(command.Name))
        {
            command.Options.Add(new Option<string>(OptionName)
            {
                Description = "Where the model runs: auto (the first usable CUDA GPU, else the CPU), cpu, cuda or cuda:N",
                DefaultValueFactory = _ => "auto",
            });
            command.Options.Add(new Option<string>(PrecisionName)
            {
                Description = "How matrix products are computed: auto (fp32 on the CPU; docs/PERFORMANCE.md), fp32, bf16 "
                    + "(bfloat16 inputs, float32 sums and master weights) or tf32 (CUDA tensor cores)",
                DefaultValueFactory = _ => "auto",
            });
        }
        return command;
    }

    /// <summary>Opens the device the parsed command asks for and says which (a command without --device: nothing).
    /// An explicit GPU this machine does not have is a usage error (exit 2).</summary>
    public static void Select(ParseResult parse, TextWriter stderr)
    {
        var option = parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == OptionName) as Option<string>;
        if (option is null || parse.Action is System.CommandLine.Help.HelpAction) return; // --help runs no model
        string spec = parse.GetValue(option) ?? "auto";
        var precisionOption = parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == PrecisionName) as Option<string>;
        var precision = Precisions.Parse(precisionOption is null ? null : parse.GetValue(precisionOption), PrecisionName);
        var device = Selected.Value = Devices.Open(spec, precision, out string description);
        // Training says where it runs (and why not on a GPU); the quick commands only when it is not the CPU, so that
        // their output stays what it was on a machine without a GPU. Under mpirun, rank 0 alone prints.
        bool training = parse.CommandResult.Command.Name is "pretrain" or "finetune" or "distill";
        if (IsLeadRank && (training || device != Device.Cpu)) stderr.WriteLine(description);
    }

    // MPI is not started yet when the device is chosen: the launcher's rank variables say which rank this is.
    private static bool IsLeadRank =>
        new[] { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK" }.Select(Environment.GetEnvironmentVariable).FirstOrDefault(v => v is not null) is not { } rank
        || rank == "0";
}
