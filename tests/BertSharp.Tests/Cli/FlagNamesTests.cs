using System.CommandLine;
using BertSharp.Cli;
using BertSharp.Onnx;
using BertSharp.Runs;
using BertSharp.Text;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cli;

/// <summary>The library's errors name properties; the command line says them with its flags, through its one table
/// (<see cref="FlagNames"/>): the user reads the flag they typed.</summary>
[Collection("cli")]
public class FlagNamesTests
{
    [Theory]
    [InlineData(new[] { "finetune", "--out", "OUT", "--lr", "-1" }, "error: --lr: must be positive, got -1")]
    [InlineData(new[] { "finetune", "--out", "OUT", "--warmup-ratio", "1" }, "error: --warmup-ratio: must be in [0, 1), got 1")]
    [InlineData(new[] { "finetune", "--out", "OUT", "--random-init", "--vocab", "v.txt" }, "error: --random-init needs a --model (whose architecture to copy)")]
    [InlineData(new[] { "pretrain", "--steps", "0" }, "error: --steps: must be at least 1, got 0")]
    [InlineData(new[] { "pretrain", "--steps", "5", "--epochs", "1", "--run-dir", "OUT" }, "error: --steps and --epochs: give one or the other")]
    [InlineData(new[] { "pretrain", "--copy-positions", "8", "--run-dir", "OUT" }, "error: --copy-positions: only with --init-from (it rewrites a pretrained model's position table)")]
    [InlineData(new[] { "tokenizer", "train", "--corpus", "c.txt", "--out", "OUT", "--min-frequency", "0" }, "error: --min-frequency: must be at least 1")]
    public void The_command_line_prints_the_flag_the_library_error_names_by_property(string[] args, string expected)
    {
        using var dir = new TempDir();
        var r = Run(args.Select(a => a == "OUT" ? dir["out"] : a).ToArray());
        Assert.Equal(CliRunner.ExitUsage, r.Code);
        Assert.Equal(expected, r.Err.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal)));
    }

    [Fact]
    public void An_existing_output_folder_is_named_by_its_flag()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["out"]);
        File.WriteAllText(Path.Combine(dir["out"], "notes.txt"), "mine");
        var r = Run(["finetune", "--out", dir["out"], "--vocab", "v.txt"]);
        Assert.Equal(CliRunner.ExitBadInput, r.Code);
        Assert.Contains($"error: --out {dir["out"]}: already exists and is not empty (choose another path, or --force to replace it)", r.Err);
    }

    [Fact]
    public void A_setting_the_command_has_no_flag_for_is_said_as_run_json_spells_it()
    {
        var pretrain = CliRunner.CreateRoot().Subcommands.Single(c => c.Name == "pretrain");
        var e = new BertSharpException("runs/x/run.json: the options contradict this run: MinFrequency 3 (the run has 2). Leave them out", ErrorKind.Conflict)
        { Properties = ["MinFrequency", "Name"] };
        Assert.Equal("runs/x/run.json: the options contradict this run: min_frequency 3 (the run has 2). Leave them out", FlagNames.Say(e, pretrain));
        Assert.Equal("--min-frequency", FlagNames.Flag("MinFrequency", CliRunner.CreateRoot().Subcommands.Single(c => c.Name == "tokenizer").Subcommands.Single(c => c.Name == "train")));
        Assert.Equal("outDir", FlagNames.Flag("outDir", pretrain)); // a parameter's name, not a property: as it is
    }

    [Fact]
    public void The_table_maps_properties_of_the_library_to_flags_of_the_command_line()
    {
        // Every entry names a real property of a request or options type, and a flag some command has: a renamed
        // property or flag fails here rather than leaving users with the code's name.
        var properties = new[] { typeof(PretrainingRequest), typeof(FineTuningRequest), typeof(DistillationRequest), typeof(VocabularyTrainingOptions), typeof(OnnxExportOptions), typeof(FineTuningRun), typeof(BertSharp.Tensors.Device) }
            .SelectMany(t => t.GetProperties()).Select(p => p.Name).ToHashSet();
        var flags = AllCommands(CliRunner.CreateRoot()).SelectMany(c => c.Options).SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();
        Assert.All(FlagNames.Table, kv =>
        {
            Assert.True(properties.Contains(kv.Key), $"{kv.Key} is no property of the library's requests");
            Assert.True(flags.Contains(kv.Value), $"{kv.Value} is no flag of any command");
        });
        // And every property of the two requests that has a flag is in it (the options that fill it).
        foreach (var p in typeof(FineTuningRequest).GetProperties().Select(p => p.Name).Where(p => p is not ("MaxGradNorm" or "LengthGroupBatches")))
            Assert.True(FlagNames.Table.ContainsKey(p), p);
    }

    private static IEnumerable<Command> AllCommands(Command c) => c.Subcommands.SelectMany(AllCommands).Prepend(c);
}
