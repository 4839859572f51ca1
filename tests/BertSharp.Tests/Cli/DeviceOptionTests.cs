using BertSharp.Cuda;
using BertSharp.Tests.Model;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cli;

/// <summary><c>--device</c> on the commands that run a model (issue 15): auto falls back to the CPU and training says
/// so; an explicit GPU this machine does not have is one line and exit 2; an unknown value is a usage error.</summary>
[Collection("KernelThreads")]
public class DeviceOptionTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static bool HasGpu => CudaInfo.Probe().IsUsable;

    [Fact]
    public void Every_model_command_takes_device_and_refuses_an_unknown_value()
    {
        foreach (var command in new[] { "pretrain", "finetune", "distill", "evaluate", "fill-mask", "nsp", "classify", "embed", "logits" })
        {
            var help = Run([command, "--help"]);
            Assert.Contains("--device", help.Out);
        }
        var bad = Run(["fill-mask", _dir, "a [MASK] .", "--device", "tpu"]);
        Assert.Equal(2, bad.Code);
        Assert.StartsWith("error: --device tpu: expected auto, cpu, cuda or cuda:N", bad.Err);
    }

    [Fact]
    public void Info_lists_the_devices_or_says_why_there_is_no_gpu()
    {
        var info = Run(["info"]);
        Assert.Equal(0, info.Code);
        Assert.Contains("devices: cpu", info.Out);
        Assert.Contains(HasGpu ? "cuda:0 " : "no usable CUDA GPU", info.Out);
        var json = System.Text.Json.JsonDocument.Parse(Run(["info", "--json"]).Out).RootElement.GetProperty("cuda");
        Assert.Equal(HasGpu, json.GetProperty("devices").GetArrayLength() > 0);
    }

    [Fact]
    public void Training_on_auto_says_which_device_and_an_explicit_missing_gpu_is_exit_2()
    {
        string corpus = WriteCorpus(Path.Combine(_dir, "c.txt"));
        string config = WriteTinyConfig(Path.Combine(_dir, "tiny.json"));
        var run = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "run"), steps: 4)]);
        Assert.Equal(0, run.Code);
        Assert.Contains(HasGpu ? "device: cuda" : "device: cpu (no usable CUDA GPU", run.Err);
        if (HasGpu) return;
        var cuda = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "run2"), steps: 4), "--device", "cuda:0"]);
        Assert.Equal(2, cuda.Code);
        Assert.Single(cuda.Err.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(_dir, "run2", "checkpoints")), "nothing trained on a device that is not there");
        // The CPU, asked for by name, trains quietly as before.
        var cpu = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "run3"), steps: 4), "--device", "cpu"]);
        Assert.Equal(0, cpu.Code);
    }

    [Fact]
    public void Every_model_command_takes_precision_and_the_run_says_which()
    {
        foreach (var command in new[] { "pretrain", "finetune", "distill", "evaluate", "fill-mask", "nsp", "classify", "embed", "logits" })
            Assert.Contains("--precision", Run([command, "--help"]).Out);
        string corpus = WriteCorpus(Path.Combine(_dir, "c.txt"));
        string config = WriteTinyConfig(Path.Combine(_dir, "tiny.json"));
        var bad = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "bad"), steps: 3), "--precision", "fp16"]);
        Assert.Equal(2, bad.Code);
        Assert.StartsWith("error: --precision fp16: expected auto, fp32, tf32 or bf16", bad.Err);
        var tf32 = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "tf32"), steps: 3), "--device", "cpu", "--precision", "tf32"]);
        Assert.Equal(2, tf32.Code);
        Assert.Contains("tf32", tf32.Err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "tf32", "checkpoints")), "nothing trained in a precision the device does not have");
        var bf16 = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "bf16"), steps: 3), "--device", "cpu", "--precision", "bf16"]);
        Assert.True(bf16.Code == 0, bf16.Err);
        Assert.Contains("device: cpu, precision bf16", bf16.Err);
        var auto = Run([.. TinyPretrain(corpus, config, Path.Combine(_dir, "auto"), steps: 3), "--device", "cpu"]);
        Assert.Contains("device: cpu, precision fp32 (auto)", auto.Err);
    }
}
