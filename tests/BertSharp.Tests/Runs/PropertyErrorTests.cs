using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using BertSharp.IO;
using BertSharp.Onnx;
using BertSharp.Runs;
using BertSharp.Tensors;
using BertSharp.Tests.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Tests.Runs;

/// <summary>A program that set a property is told about that property, not about a flag of the command line it never
/// used: for each request and options type, an example error names the property (in the message and in
/// <see cref="BertSharpException.Properties"/>) and no <c>--</c> flag. The command line's side (the flags back in
/// the message) is Cli/FlagNamesTests.</summary>
public class PropertyErrorTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Each request or options type, what a program gets wrong in it, the property the error must name and
    /// the message's start.</summary>
    private Dictionary<string, (Action Refused, string Property, string Start)> Examples() => new()
    {
        ["PretrainingRequest (a value)"] = (() => PretrainingRun.Open(new PretrainingRequest { LearningRate = -1 }),
            nameof(PretrainingRequest.LearningRate), "LearningRate: must be positive, got -1"),
        ["PretrainingRequest (two that exclude each other)"] = (() => PretrainingRun.Open(new PretrainingRequest { Steps = 5, Epochs = 1, RunDir = Path.Combine(_dir, "p") }),
            nameof(PretrainingRequest.Epochs), "Steps and Epochs: give one or the other"),
        ["FineTuningRequest"] = (() => new FineTuningRun(new FineTuningRequest { OutputDir = Path.Combine(_dir, "f"), WarmupRatio = 1 }).Run(),
            nameof(FineTuningRequest.WarmupRatio), "WarmupRatio: must be in [0, 1), got 1"),
        ["FineTuningRequest (its output folder)"] = (() => new FineTuningRun(new FineTuningRequest { OutputDir = NonEmptyFolder() }).Run(),
            nameof(FineTuningRequest.OutputDir), "OutputDir "),
        ["FineTuningRecipe"] = (() => new FineTuningRecipe { EarlyStoppingPatience = -1 }.Validate(),
            nameof(FineTuningRecipe.EarlyStoppingPatience), "EarlyStoppingPatience: must be 0 (never) or more, got -1"),
        ["VocabularyTrainingOptions"] = (() => new VocabularyTrainingOptions { MinFrequency = 0 }.Validate(),
            nameof(VocabularyTrainingOptions.MinFrequency), "MinFrequency: must be at least 1"),
        ["OnnxExportOptions"] = (() => OnnxExporter.Validate(new OnnxExportOptions { Dtype = WeightsDtype.BF16 }),
            nameof(OnnxExportOptions.Dtype), "Dtype bf16: not available in an ONNX export"),
        ["a run's ReportTo"] = (() => ReportTargets.Parse("wandb"), nameof(FineTuningRun.ReportTo), "ReportTo 'wandb': expected tensorboard or none"),
        ["a run's Device"] = (() => Devices.Parse("tpu"), nameof(FineTuningRun.Device), "Device tpu: expected auto, cpu, cuda or cuda:N"),
    };

    private string NonEmptyFolder()
    {
        string folder = Path.Combine(_dir, "taken");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "mine");
        return folder;
    }

    [Fact]
    public void Each_request_and_options_type_is_refused_by_property_name_not_by_flag()
    {
        var examples = Examples();
        foreach (var (type, (refused, property, start)) in examples)
        {
            var e = Assert.Throws<BertSharpException>(refused);
            Assert.True(e.Message.StartsWith(start, StringComparison.Ordinal), $"{type}: {e.Message}");
            Assert.True(e.Properties.Contains(property), $"{type}: {string.Join(", ", e.Properties)}");
            Assert.DoesNotContain("--", e.Message);
        }
        Assert.True(Directory.EnumerateFileSystemEntries(_dir).All(p => Path.GetFileName(p) == "taken"), "a refused request wrote nothing");
    }

    [Fact]
    public void Every_property_an_error_names_is_a_property_of_its_request()
    {
        // The names in Properties are what a caller maps (the CLI to its flags): each must be the request's own.
        var request = typeof(FineTuningRequest).GetProperties().Select(p => p.Name).ToHashSet();
        var e = Assert.Throws<BertSharpException>(() => new FineTuningRun(new FineTuningRequest
        {
            OutputDir = Path.Combine(_dir, "r"), RandomInit = true, VocabPath = "vocab.txt",
        }).Run());
        Assert.Equal("RandomInit needs a Model (whose architecture to copy)", e.Message);
        Assert.All(e.Properties, p => Assert.Contains(p, request));
        var pretraining = typeof(PretrainingRequest).GetProperties().Select(p => p.Name).ToHashSet();
        var given = Assert.Throws<BertSharpException>(() => PretrainingRun.Open(new PretrainingRequest { Name = "a", RunDir = "b" }));
        Assert.Equal(["RunDir", "Name"], given.Properties);
        Assert.All(given.Properties, p => Assert.Contains(p, pretraining));
    }

    [Fact]
    public void A_caller_says_the_message_with_its_own_names_for_the_properties()
    {
        var e = new BertSharpException("Warmup: 10 must be fewer than Steps 5 (in /data/Steps/run, Steps.txt)", ErrorKind.Usage) { Properties = ["Warmup", "Steps"] };
        // Words of their own become the caller's names; the same letters inside a path or a file name do not.
        Assert.Equal("--warmup: 10 must be fewer than --steps 5 (in /data/Steps/run, Steps.txt)",
            e.MessageNaming(p => "--" + p.ToLowerInvariant()));
    }

    /// <summary>The library's strings name no command-line flag: a program reads its own property names. Exceptions: the
    /// NVRTC compiler's own options (Cuda/KernelSources.cs).</summary>
    [Fact]
    public void No_library_string_names_a_command_line_flag()
    {
        var flag = new Regex(@"""[^""\n]*--[a-z]");
        var found = Directory.EnumerateFiles(Library(), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && Path.GetFileName(f) != "KernelSources.cs")
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, line, i)))
            .Where(x => !x.line.TrimStart().StartsWith("//", StringComparison.Ordinal) && flag.IsMatch(x.line))
            .Select(x => $"{Path.GetFileName(x.f)}:{x.i + 1}: {x.line.Trim()}").ToList();
        Assert.Empty(found);
    }

    private static string Library([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "src", "BertSharp"));
}
