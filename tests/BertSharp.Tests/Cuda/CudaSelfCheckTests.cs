using BertSharp.Cli;
using BertSharp.Cuda;
using BertSharp.Tensors;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cuda;

/// <summary>Issue 21, part 3: the self-check a GPU passes before its first training or inference, cached per (GPU,
/// driver, libraries, kernel source); a GPU that fails it is refused by <c>--device cuda</c> and passed over by
/// <c>--device auto</c>, which says why.</summary>
[Collection("KernelThreads")]
public class CudaSelfCheckTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "bertsharp-selfcheck-" + Guid.NewGuid().ToString("N"));
    private readonly string? _oldCache = Environment.GetEnvironmentVariable("BERTSHARP_CUDA_CACHE");

    public CudaSelfCheckTests()
    {
        Directory.CreateDirectory(_root);
        Environment.SetEnvironmentVariable("BERTSHARP_CUDA_CACHE", Path.Combine(_root, "cache"));
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("BERTSHARP_CUDA_CACHE", _oldCache);
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private static readonly CudaDeviceInfo H200 = new(0, "NVIDIA H200", 150L << 30, 9, 0, 132);

    [Fact]
    public void The_key_changes_with_the_gpu_driver_libraries_and_kernel_source()
    {
        string k = CudaSelfCheck.Key(H200, "13.0", "13.0", "13.1.0", "src");
        Assert.Equal(32, k.Length);
        Assert.Equal(k, CudaSelfCheck.Key(H200, "13.0", "13.0", "13.1.0", "src"));
        Assert.NotEqual(k, CudaSelfCheck.Key(H200 with { Name = "NVIDIA H100" }, "13.0", "13.0", "13.1.0", "src"));
        Assert.NotEqual(k, CudaSelfCheck.Key(H200 with { Major = 10 }, "13.0", "13.0", "13.1.0", "src"));
        Assert.NotEqual(k, CudaSelfCheck.Key(H200, "12.8", "13.0", "13.1.0", "src"));
        Assert.NotEqual(k, CudaSelfCheck.Key(H200, "13.0", "12.8", "13.1.0", "src"));
        Assert.NotEqual(k, CudaSelfCheck.Key(H200, "13.0", "13.0", "12.8.4", "src"));
        Assert.NotEqual(k, CudaSelfCheck.Key(H200, "13.0", "13.0", "13.1.0", "src "));
        Assert.Equal(Path.Combine("/c", $"selfcheck-{k}.json"), CudaSelfCheck.FileFor("/c", k));
    }

    [Fact]
    public void Results_are_read_back_and_described_in_one_line()
    {
        Assert.Equal("self-check: not run yet (it runs before the first training or inference on this GPU)", CudaSelfCheck.Describe(null));
        var passed = new CudaSelfCheckResult(true, [], 36, H200.ToString(), new DateTime(2026, 12, 5, 9, 0, 0, DateTimeKind.Utc), 1.5);
        Assert.Equal("self-check: passed (36 kernel checks agree with the CPU, 2026-12-05 09:00 UTC)", CudaSelfCheck.Describe(passed));
        var failed = passed with { Passed = false, Failed = ["Gelu(tanh=False) [10007] max abs 0.5", "LayerNormBackward [37x301] CudaException: boom"], File = "/c/selfcheck-x.json" };
        string reason = CudaSelfCheck.FailureReason(failed);
        Assert.DoesNotContain('\n', reason);
        Assert.StartsWith("the CUDA self-check failed on cuda:0 NVIDIA H200, ", reason);
        Assert.Contains("2 kernel(s) disagree with the CPU (Gelu(tanh=False), LayerNormBackward)", reason);
        Assert.EndsWith("(delete /c/selfcheck-x.json to check again)", reason);
        Assert.StartsWith("self-check: FAILED: the CUDA self-check failed", CudaSelfCheck.Describe(failed));

        string file = Path.Combine(_root, "r.json");
        Directory.CreateDirectory(_root);
        File.WriteAllText(file, System.Text.Json.JsonSerializer.Serialize(failed));
        var back = CudaSelfCheck.Read(file)!;
        Assert.False(back.Passed);
        Assert.Equal(failed.Failed, back.Failed);
        Assert.Equal(file, back.File);
        Assert.False(back.Fresh);
        File.WriteAllText(file, "{ not json");
        Assert.Null(CudaSelfCheck.Read(file));
        File.WriteAllText(file, "{}");
        Assert.Null(CudaSelfCheck.Read(file));
        Assert.Null(CudaSelfCheck.Read(Path.Combine(_root, "missing.json")));
    }

    [Fact]
    public void Without_a_gpu_there_is_no_self_check_to_show()
    {
        var info = CudaInfo.Probe();
        if (info.IsUsable) return;
        Assert.Null(CudaSelfCheck.FileFor(info, 0));
        Assert.Null(CudaSelfCheck.Lookup(info, 0));
    }

    // ---- on a GPU (or the emulated stack) ----

    [GpuFact]
    public void A_gpu_passes_the_self_check_once_and_info_shows_it()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        var info = CudaInfo.Probe();
        Assert.Null(CudaSelfCheck.Lookup(info, 0));
        Assert.Contains("cuda:0 self-check: not run yet", Run(["info"]).Out);
        var d = Devices.Open("cuda", out string description);
        d.Dispose();
        Assert.Contains("(self-check passed: ", description);
        var result = CudaSelfCheck.Lookup(info, 0);
        Assert.NotNull(result);
        Assert.True(result.Passed, string.Join("; ", result.Failed));
        Assert.True(result.Seconds <= 10, $"{result.Seconds} s");
        d = Devices.Open("auto", out description);
        d.Dispose();
        Assert.StartsWith("device: cuda:0 ", description);
        Assert.DoesNotContain("self-check", description); // cached: not run again
        Assert.Contains("cuda:0 self-check: passed", Run(["info"]).Out);
        var json = System.Text.Json.JsonDocument.Parse(Run(["info", "--json"]).Out).RootElement.GetProperty("cuda").GetProperty("self_check");
        Assert.Equal("passed", json[0].GetProperty("status").GetString());
    }

    /// <summary>GELU's kernel computes 0.25·x·(1 + erf(...)) instead of 0.5·x·(...).</summary>
    private static IDisposable BreakGelu() => KernelSources.OverrideModule(src =>
    {
        const string good = "bs_st(y, i, 0.5f * v * (1.0f + erff(";
        Assert.Contains(good, src);
        return src.Replace(good, "bs_st(y, i, 0.25f * v * (1.0f + erff(");
    });

    [GpuFact]
    public void With_a_broken_kernel_auto_falls_back_to_the_cpu_with_the_reason_and_cuda_refuses()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var broken = BreakGelu();
        var d = Devices.Open("auto", out string description);
        Assert.Same(Device.Cpu, d);
        Assert.StartsWith("device: cpu (the CUDA self-check failed on cuda:0 ", description);
        Assert.Contains("Gelu(tanh=False)", description);
        Assert.DoesNotContain('\n', description);
        var e = Assert.Throws<BertSharpException>(() => Devices.Open("cuda:0", out _));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Equal(2, CliRunner.ExitCode(e));
        Assert.StartsWith("Device cuda:0: the CUDA self-check failed on cuda:0 ", e.Message);
        Assert.Contains("Gelu(tanh=False)", e.Message);
        Assert.DoesNotContain("LayerNorm", e.Message); // only the kernels that disagree are named
    }

    [GpuFact]
    public void With_a_broken_kernel_the_command_line_trains_on_the_cpu_for_auto_and_exits_2_for_cuda()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var broken = BreakGelu();
        string corpus = WriteCorpus(Path.Combine(_root, "c.txt"));
        string config = WriteTinyConfig(Path.Combine(_root, "tiny.json"));
        var auto = Run([.. TinyPretrain(corpus, config, Path.Combine(_root, "run"), steps: 4)]);
        Assert.True(auto.Code == 0, auto.Err);
        Assert.Contains("device: cpu (the CUDA self-check failed on cuda:0 ", auto.Err);
        var cuda = Run([.. TinyPretrain(corpus, config, Path.Combine(_root, "run2"), steps: 4), "--device", "cuda"]);
        Assert.Equal(2, cuda.Code);
        Assert.Single(cuda.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains("Gelu(tanh=False)", cuda.Err);
        Assert.Contains("cuda:0 self-check: FAILED", Run(["info"]).Out);
    }
}
