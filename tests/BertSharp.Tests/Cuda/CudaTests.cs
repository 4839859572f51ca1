using System.Runtime.CompilerServices;
using BertSharp.Cuda;
using BertSharp.Tensors;

namespace BertSharp.Tests.Cuda;

/// <summary>A fact that needs a usable CUDA GPU: runs on it where there is one, else on the CUDA emulator (tools/cuda-emu,
/// in a child process: <see cref="EmulatedGpu"/>; the body starts with <c>if (EmulatedGpu.RanInChild(this)) return;</c>);
/// skipped, with the reason, only where neither can run (counted as skipped).</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    /// <summary>Skips when there is no usable GPU and the emulator cannot run here.</summary>
    public GpuFactAttribute()
    {
        var info = CudaInfo.Probe();
        if (!info.IsUsable && !EmulatedGpu.CanRun(out string why)) Skip = $"needs a CUDA GPU: {info.Reason}; {why}";
    }
}

/// <summary>A fact that needs NVRTC (a CUDA toolkit or the nvidia-cuda-nvrtc wheel), not a GPU; on the emulator's NVRTC
/// where there is none (like <see cref="GpuFactAttribute"/>).</summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    /// <summary>Skips when NVRTC does not load and the emulator cannot run here.</summary>
    public NvrtcFactAttribute()
    {
        if (CudaLibrariesLoaded.TryNvrtc(out string why) is null && !EmulatedGpu.CanRun(out string emu)) Skip = $"needs NVRTC: {why}; {emu}";
    }
}

/// <summary>A temporary folder tree of empty files standing in for CUDA library folders (the search and choice of
/// libraries are pure functions over listings, tested on such trees).</summary>
public abstract class FakeLibraryTree : IDisposable
{
    /// <summary>The tree's root, deleted with the test.</summary>
    protected string Root { get; } = Path.Combine(Path.GetTempPath(), "bertsharp-cuda-" + Guid.NewGuid().ToString("N"));

    /// <inheritdoc/>
    public void Dispose() { try { Directory.Delete(Root, true); } catch (IOException) { } }

    /// <summary>Creates the empty file <paramref name="parts"/> under the root (and its folders); returns its path.</summary>
    protected string Touch(params string[] parts)
    {
        var path = Path.Combine([Root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        return path;
    }
}

public class CudaLibrariesTests : FakeLibraryTree
{

    [Fact]
    public void Search_order_is_override_then_cuda_home_then_wheels_then_system_folders()
    {
        string site = Path.Combine(Root, "site-packages");
        Directory.CreateDirectory(Path.Combine(site, "nvidia", "cublas"));
        Directory.CreateDirectory(Path.Combine(site, "nvidia", "cu13"));
        var env = new Dictionary<string, string> { ["BERTSHARP_CUDA_LIBS"] = "/x/a: /x/b", ["CUDA_HOME"] = "/opt/cuda" };
        var folders = CudaLibraries.SearchFolders(k => env.GetValueOrDefault(k), [site], CudaLibraries.SafeFolders);
        Assert.Equal("/x/a", folders[0]);
        Assert.Equal("/x/b", folders[1]);
        Assert.Equal("/opt/cuda/lib64", folders[2]);
        int cu13 = folders.ToList().IndexOf(Path.Combine(site, "nvidia", "cu13", "lib"));
        int cublas = folders.ToList().IndexOf(Path.Combine(site, "nvidia", "cublas", "lib"));
        Assert.True(cu13 > 2 && cublas > cu13, string.Join(", ", folders));
        Assert.True(folders.ToList().IndexOf("/usr/local/cuda/lib64") > cublas);
    }

    [Fact]
    public void Candidates_come_folder_by_folder_newest_version_first_and_skip_look_alikes()
    {
        string a = Path.GetDirectoryName(Touch("a", "libnvrtc.so.12"))!;
        Touch("a", "libnvrtc.so.13.0.48");
        Touch("a", "libnvrtc.so");
        Touch("a", "libnvrtc-builtins.so.13.0");
        Touch("a", "libnvrtc.alt.so.13");
        string b = Path.GetDirectoryName(Touch("b", "libnvrtc.so.13"))!;
        var found = CudaLibraries.Candidates(CudaLibrary.Nvrtc, [a, Path.Combine(Root, "missing"), b], CudaLibraries.SafeFiles);
        Assert.Equal([Path.Combine(a, "libnvrtc.so.13.0.48"), Path.Combine(a, "libnvrtc.so.12"), Path.Combine(a, "libnvrtc.so"), Path.Combine(b, "libnvrtc.so.13")], found);
    }

    [Fact]
    public void Cublas_and_cublasLt_do_not_match_each_other_and_the_driver_stub_is_skipped()
    {
        string d = Path.GetDirectoryName(Touch("c", "libcublas.so.13"))!;
        Touch("c", "libcublasLt.so.13");
        Touch("c", "libcuda.so");
        Touch("c", "libcuda.so.1");
        Touch("c", "libcuda.so.580.65.06");
        Assert.Equal([Path.Combine(d, "libcublas.so.13")], CudaLibraries.Candidates(CudaLibrary.Cublas, [d], CudaLibraries.SafeFiles));
        Assert.Equal([Path.Combine(d, "libcublasLt.so.13")], CudaLibraries.Candidates(CudaLibrary.CublasLt, [d], CudaLibraries.SafeFiles));
        Assert.Equal([Path.Combine(d, "libcuda.so.1")], CudaLibraries.Candidates(CudaLibrary.Driver, [d], CudaLibraries.SafeFiles));
        Assert.Equal(["libcuda.so.1"], CudaLibraries.LoaderNames(CudaLibrary.Driver));
        Assert.Equal("libnvrtc.so.13", CudaLibraries.LoaderNames(CudaLibrary.Nvrtc)[0]);
    }

    [Fact]
    public void The_override_variable_finds_a_library_in_its_folder()
    {
        string d = Path.GetDirectoryName(Touch("override", "libcublasLt.so.13.1.0.3"))!;
        var env = new Dictionary<string, string> { ["BERTSHARP_CUDA_LIBS"] = d };
        var folders = CudaLibraries.SearchFolders(k => env.GetValueOrDefault(k), [], _ => []);
        Assert.Equal(Path.Combine(d, "libcublasLt.so.13.1.0.3"), CudaLibraries.Candidates(CudaLibrary.CublasLt, folders, CudaLibraries.SafeFiles)[0]);
    }

    [Theory]
    [InlineData("libnvrtc.so.13.0.48", "13.0.48")]
    [InlineData("libcuda.so.1", "1.0")]
    [InlineData("libcublasLt.so.12.8.4.1", "12.8.4.1")]
    [InlineData("libnvrtc.so", null)]
    [InlineData("libnvrtc.so.alt", null)]
    [InlineData("libnvrtc.so.13.x", null)]
    public void Shared_object_versions_parse(string name, string? expected)
        => Assert.Equal(expected, CudaLibraries.ParseSoVersion(name)?.ToString());

    [Theory]
    [InlineData(13000, "13.0")]
    [InlineData(12080, "12.8")]
    [InlineData(0, "unknown")]
    public void Cuda_version_integers_format(int v, string expected) => Assert.Equal(expected, CudaLibraries.FormatCudaVersion(v));

    [Fact]
    public void The_no_cuda_reason_is_one_line()
    {
        Assert.Equal("no usable CUDA GPU: libcuda.so.1 not found", CudaInfo.NoCudaReason("libcuda.so.1 not found\nmore detail"));
        var info = CudaInfo.Probe();
        if (!info.IsUsable)
        {
            Assert.StartsWith("no usable CUDA GPU: ", info.Reason);
            Assert.DoesNotContain('\n', info.Reason);
            Assert.Equal(info.Reason, info.Devices.Count == 0 ? info.Describe() : info.Reason);
        }
    }
}

public class DevicesTests
{
    [Theory]
    [InlineData("auto", null, 0)]
    [InlineData("", null, 0)]
    [InlineData("cpu", false, 0)]
    [InlineData("CUDA", true, 0)]
    [InlineData("cuda:3", true, 3)]
    public void Device_specs_parse(string spec, bool? cuda, int ordinal) => Assert.Equal((cuda, ordinal), Devices.Parse(spec));

    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    public void A_bad_device_spec_is_a_usage_error(string spec)
        => Assert.Equal(ErrorKind.Usage, Assert.Throws<BertSharpException>(() => Devices.Parse(spec)).Kind);

    [Fact]
    public void Without_a_gpu_auto_says_why_it_takes_the_cpu_and_cuda_is_one_usage_error()
    {
        var info = CudaInfo.Probe();
        if (info.IsUsable) return; // the GPU case is GpuTests'
        var d = Devices.Open("auto", out string description);
        Assert.Same(Device.Cpu, d);
        Assert.StartsWith("device: cpu (no usable CUDA GPU: ", description);
        var e = Assert.Throws<BertSharpException>(() => Devices.Open("cuda:0", out _));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("Device cuda:0: no usable CUDA GPU", e.Message);
    }
}

public class KernelSourcesTests
{
    private static string Source([CallerFilePath] string here = "")
        => File.ReadAllText(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "src", "BertSharp", "Cuda", "CudaDevice.cs")));

    [Fact]
    public void The_kernel_files_are_embedded_header_first()
    {
        var files = KernelSources.Files();
        Assert.Equal("common.cuh", files[0].Name);
        Assert.Contains(files, f => f.Name == "dropout.cu");
        Assert.True(files.Count >= 8);
        Assert.All(files.Skip(1), f => Assert.EndsWith(".cu", f.Name));
    }

    [Fact]
    public void Assembly_puts_defines_first_and_marks_each_file_with_a_line_directive()
    {
        string s = KernelSources.Assemble([("a.cuh", "int a;"), ("b.cu", "int b;\n")], [new("BS_BLOCK", "128"), new("X", "1")]);
        Assert.Equal("// BertSharp CUDA kernels (generated by KernelSources.Assemble)\n#define BS_BLOCK 128\n#define X 1\n#line 1 \"a.cuh\"\nint a;\n#line 1 \"b.cu\"\nint b;\n", s);
        Assert.Throws<ArgumentException>(() => KernelSources.Assemble([], [new("1X", "1")]));
        Assert.Throws<ArgumentException>(() => KernelSources.Assemble([], [new("A B", "1")]));
        Assert.StartsWith("// BertSharp CUDA kernels", KernelSources.Module());
        Assert.Contains("#define BS_BLOCK 256\n", KernelSources.Module());
    }

    [Fact]
    public void Every_kernel_the_device_launches_is_in_the_module()
    {
        var names = KernelSources.KernelNames(KernelSources.Module()).ToHashSet();
        var launched = System.Text.RegularExpressions.Regex.Matches(Source(), "\"(bs_[a-z0-9_]+)\"").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(launched.Count >= 25, string.Join(", ", launched));
        Assert.All(launched, k => Assert.Contains(k, names));
    }

    [Fact]
    public void The_cache_key_changes_with_source_architecture_driver_nvrtc_and_options()
    {
        string[] o = ["--gpu-architecture=sm_90"];
        string k = KernelSources.CacheKey("src", "sm_90", 13000, "13.0", o);
        Assert.Equal(32, k.Length);
        Assert.Equal(k, KernelSources.CacheKey("src", "sm_90", 13000, "13.0", o));
        Assert.NotEqual(k, KernelSources.CacheKey("src ", "sm_90", 13000, "13.0", o));
        Assert.NotEqual(k, KernelSources.CacheKey("src", "sm_80", 13000, "13.0", o));
        Assert.NotEqual(k, KernelSources.CacheKey("src", "sm_90", 12080, "13.0", o));
        Assert.NotEqual(k, KernelSources.CacheKey("src", "sm_90", 13000, "12.8", o));
        Assert.NotEqual(k, KernelSources.CacheKey("src", "sm_90", 13000, "13.0", ["--gpu-architecture=compute_90"]));
        Assert.EndsWith(".cubin", KernelSources.CacheFile("/c", k, false));
        Assert.EndsWith(".ptx", KernelSources.CacheFile("/c", k, true));
    }

    [Fact]
    public void Options_name_the_architecture_and_keep_precise_math()
    {
        var o = KernelSources.Options(9, 0, ptx: false);
        Assert.Equal("--gpu-architecture=sm_90", o[0]);
        Assert.Equal("--gpu-architecture=compute_86", KernelSources.Options(8, 6, ptx: true)[0]);
        Assert.Contains("--prec-div=true", o);
        Assert.DoesNotContain("--use_fast_math", o);
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelSources.Options(3, 5, false));
    }

    [Fact]
    public void The_cache_folder_follows_the_environment()
    {
        var env = new Dictionary<string, string> { ["HOME"] = "/home/u" };
        Assert.Equal("/home/u/.cache/bertsharp/cuda", KernelSources.CacheFolder(k => env.GetValueOrDefault(k)));
        env["XDG_CACHE_HOME"] = "/xdg";
        Assert.Equal("/xdg/bertsharp/cuda", KernelSources.CacheFolder(k => env.GetValueOrDefault(k)));
        env["BERTSHARP_CUDA_CACHE"] = "/c";
        Assert.Equal("/c", KernelSources.CacheFolder(k => env.GetValueOrDefault(k)));
    }

    [NvrtcFact]
    public void The_kernels_compile_with_nvrtc()
    {
        if (CudaLibrariesLoaded.TryNvrtc(out _) is null && EmulatedGpu.RanInChild(this)) return;
        var nvrtc = CudaLibrariesLoaded.TryNvrtc(out _)!;
        var (major, _) = nvrtc.Version();
        var ptx = nvrtc.Compile(KernelSources.Module(), "bertsharp_kernels.cu", KernelSources.Options(major >= 12 ? 9 : 8, 0, ptx: true), ptx: true);
        string text = System.Text.Encoding.ASCII.GetString(ptx);
        foreach (var name in KernelSources.KernelNames(KernelSources.Module()))
            Assert.Contains(".entry " + name, text);
        Assert.Contains("bad.cu", CudaException.Message(() => nvrtc.Compile("this is not C", "bad.cu", KernelSources.Options(8, 0, true), true)));
    }
}

internal static class CudaException
{
    public static string Message(Action a) => Assert.Throws<BertSharp.Cuda.CudaException>(a).Message;
}

public class LaunchGeometryTests
{
    [Fact]
    public void Elementwise_covers_n_with_at_most_the_block_cap()
    {
        Assert.Equal(new Launch(0, 1, 256, 1), LaunchGeometry.Elementwise(0));
        Assert.Equal(new Launch(1, 1, 256, 1), LaunchGeometry.Elementwise(1));
        Assert.Equal(new Launch(2, 1, 256, 1), LaunchGeometry.Elementwise(257));
        Assert.Equal(65536u, LaunchGeometry.Elementwise(110_000_000).GridX);
        Assert.True(LaunchGeometry.Elementwise(0).IsEmpty);
    }

    [Fact]
    public void Rows_get_a_block_each_with_warp_multiple_threads()
    {
        Assert.Equal(new Launch(37, 1, 32, 1), LaunchGeometry.Rows(37, 19));
        Assert.Equal(new Launch(37, 1, 160, 1), LaunchGeometry.Rows(37, 130));
        Assert.Equal(new Launch(29, 1, 256, 1), LaunchGeometry.Rows(29, 30522));
        Assert.Equal(new Launch(29, 1, 1024, 1), LaunchGeometry.Rows(29, 30522, 1024));
        Assert.True(LaunchGeometry.Rows(5, 0).IsEmpty);
        Assert.Throws<ArgumentOutOfRangeException>(() => LaunchGeometry.Rows(1, 1, 48));
    }

    [Fact]
    public void Columns_dropout_and_reductions()
    {
        Assert.Equal(new Launch(10, 1, 32, 8), LaunchGeometry.ColumnPartials(37, 301));
        Assert.Equal(1L, LaunchGeometry.DropoutBlocks(2, 1));
        Assert.Equal(2L, LaunchGeometry.DropoutBlocks(2, 3));
        Assert.Equal(252L, LaunchGeometry.DropoutBlocks(1003, 6)); // elements 6..1008 → blocks 1..252
        Assert.Equal(0L, LaunchGeometry.DropoutBlocks(0, 5));
        Assert.Equal(new Launch(1, 1, 256, 1), LaunchGeometry.SumOfSquares(0));
        Assert.Equal(1024u, LaunchGeometry.SumOfSquares(10_000_000).GridX);
        Assert.Equal(new Launch(16384, 6, 128, 1), LaunchGeometry.EmbeddingRows(16384, 768));
    }
}

public class BFloat16Tests
{
    [Theory]
    [InlineData(0x3F800000u, (ushort)0x3F80)] // 1
    [InlineData(0x3F808000u, (ushort)0x3F80)] // halfway, rounds to even (down)
    [InlineData(0x3F818000u, (ushort)0x3F82)] // halfway, rounds to even (up)
    [InlineData(0x3F808001u, (ushort)0x3F81)] // above halfway
    [InlineData(0x7F800000u, (ushort)0x7F80)] // +inf
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)] // max float rounds to inf
    [InlineData(0x80000000u, (ushort)0x8000)] // -0
    public void Casts_round_to_nearest_even(uint bits, ushort expected)
        => Assert.Equal(expected, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(bits)));

    [Fact]
    public void NaN_stays_NaN_and_widening_is_exact()
    {
        Assert.True(float.IsNaN(BFloat16.ToSingle(BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x7F800001u)))));
        Assert.Equal(1.5f, BFloat16.ToSingle(0x3FC0));
        for (int h = 0; h < 65536; h += 97)
            if (!float.IsNaN(BFloat16.ToSingle((ushort)h))) Assert.Equal((ushort)h, BFloat16.FromSingle(BFloat16.ToSingle((ushort)h)));
    }
}

public class DeviceComparisonTests
{
    [Fact]
    public void The_cpu_agrees_with_itself_on_every_kernel()
    {
        var results = DeviceComparison.Run(Device.Cpu, Device.Cpu);
        Assert.True(results.Count >= 30, $"{results.Count} checks");
        Assert.All(results, r => Assert.True(r.Passed && r.MaxAbs == 0, $"{r.Kernel}: {r.Error} {r.MaxAbs}"));
    }

    [GpuFact]
    public void The_cuda_device_agrees_with_the_cpu_on_every_kernel()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        var results = DeviceComparison.Run(Device.Cpu, gpu);
        var failed = results.Where(r => !r.Passed).Select(r => $"{r.Kernel} [{r.Shape}]: abs {r.MaxAbs:G3} rel {r.MaxRel:G3} {r.Error}").ToList();
        Assert.True(failed.Count == 0, string.Join("; ", failed));
    }

    [GpuFact]
    public void Bfloat16_casts_on_the_gpu_match_the_host_reference()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        var x = Enumerable.Range(0, 1001).Select(i => (float)Math.Sin(i) * (i + 1)).ToArray();
        using var f = gpu.Allocate(DType.Float32, x.Length);
        using var h = gpu.Allocate(DType.BFloat16, x.Length);
        gpu.CopyToDevice<float>(x, f);
        gpu.Cast(f, h);
        var bits = new ushort[x.Length];
        gpu.CopyToHost<ushort>(h, bits);
        Assert.Equal(x.Select(BFloat16.FromSingle).ToArray(), bits);
    }
}
