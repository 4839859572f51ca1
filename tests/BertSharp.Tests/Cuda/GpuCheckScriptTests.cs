using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace BertSharp.Tests.Cuda;

/// <summary>A fact that runs tools/gpu/check.sh on the CUDA emulator: needs bash, python3 and what the emulator needs
/// (g++); skipped without them unless <c>BERTSHARP_REQUIRE_CUDA_EMU=1</c>, where it fails instead.</summary>
public sealed class GpuCheckScriptFactAttribute : FactAttribute
{
    /// <summary>Skips when the script cannot run here on the emulator.</summary>
    public GpuCheckScriptFactAttribute()
    {
        if (!EmulatedGpu.CanRun(out string why)) { Skip = why; return; }
        if (EmulatedGpu.Required) return;
        foreach (var tool in new[] { "bash", "python3", "xz" })
            if (!GpuCheckScriptTests.OnPath(tool))
            {
                Skip = $"tools/gpu/check.sh --emulated needs {tool} (CI sets BERTSHARP_REQUIRE_CUDA_EMU=1, which makes this a failure)";
                return;
            }
    }
}

/// <summary>Issue 21, item 4: the prepared GPU run (tools/gpu/check.sh) is itself tested, end to end on the CUDA
/// emulator (<c>--emulated</c>): every step it runs on a GPU (info, kernels, the bench in its quick size), the PyTorch
/// step reported as skipped, summary.json written, exit 0. The emulator is loaded only by the script's own processes,
/// never into this test process.</summary>
public class GpuCheckScriptTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "bertsharp-gpucheck-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_out, true); } catch (IOException) { }
    }

    internal static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, name)));

    [GpuCheckScriptFact]
    public void Check_sh_emulated_runs_every_step_and_passes()
    {
        string root = EmulatedGpu.RepositoryRoot;
        // This build of GpuCheck (the test project builds it, same configuration), not a package made from older sources.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        string dll = Path.Combine(root, "tools", "gpu", "GpuCheck", "bin", configuration, "net10.0", "BertSharp.GpuCheck.dll");
        Assert.True(File.Exists(dll), $"{dll} missing: dotnet build tools/gpu/GpuCheck -c {configuration}");
        _ = EmulatedGpu.Folder; // built here first, so a build failure reads as one
        var r = EmulatedGpu.RunProcess("bash", [Path.Combine(root, "tools", "gpu", "check.sh"), "--emulated", _out],
            new Dictionary<string, string> { ["BERTSHARP_GPUCHECK"] = dll }, 300);
        log.WriteLine($"check.sh --emulated: exit {r.ExitCode} in {r.Seconds:F1} s\n{r.Output}");
        Assert.True(r.ExitCode == 0, $"tools/gpu/check.sh --emulated: exit {r.ExitCode} after {r.Seconds:F1} s\n{EmulatedGpu.Tail(r.Output, 6000)}");
        Assert.Contains("pytorch: skipped (emulated: no CUDA PyTorch)", r.Output);

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "summary.json")));
        var s = summary.RootElement;
        Assert.True(s.GetProperty("emulated").GetBoolean());
        foreach (var step in new[] { "info_rc", "kernels_rc", "bench_rc", "pytorch_rc" })
            Assert.Equal(0, s.GetProperty(step).GetInt32());
        string kernels = s.GetProperty("kernels").GetString()!;
        var m = Regex.Match(kernels, @"^(\d+)/(\d+) within tolerance$");
        Assert.True(m.Success && m.Groups[1].Value == m.Groups[2].Value && int.Parse(m.Groups[2].Value) >= 30, $"kernels: {kernels}");
        Assert.True(s.GetProperty("kernels_passed").GetBoolean());
        Assert.Equal("skipped (emulated: no CUDA PyTorch)", s.GetProperty("pytorch").GetString());

        using var bench = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "bench.json")));
        Assert.True(bench.RootElement.GetProperty("quick").GetBoolean());
        var rows = bench.RootElement.GetProperty("rows").EnumerateArray().ToList();
        foreach (var row in rows)
            Assert.False(row.TryGetProperty("error", out var e), $"bench {row.GetProperty("precision")}: {e}");
        Assert.Equal(["fp32", "tf32", "bf16"], rows.Select(row => row.GetProperty("precision").GetString()!).ToArray());
        Assert.All(rows, row => Assert.True(row.GetProperty("tokens_per_s").GetDouble() > 0));

        using var torch = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "pytorch.json")));
        Assert.Equal("emulated: no CUDA PyTorch", torch.RootElement.GetProperty("skipped").GetString());
    }
}
