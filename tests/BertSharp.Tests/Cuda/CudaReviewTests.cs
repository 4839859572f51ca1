using BertSharp.Cuda;
using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Tests.Cuda;

/// <summary>Issue 21, part 2: each finding of the outside review of the CUDA device, as a unit test of the pure
/// function that now decides it, or as a GPU test (run on a GPU, or on the emulated CUDA stack).</summary>
[Collection("KernelThreads")]
public class CudaReviewTests : FakeLibraryTree
{

    // ---- library choice: never a library newer than the driver ----

    [Fact]
    public void With_a_cuda_12_driver_and_both_wheels_the_12_libraries_are_chosen()
    {
        string site = Path.Combine(Root, "site-packages");
        Touch("site-packages", "nvidia", "cu13", "lib", "libnvrtc.so.13");
        Touch("site-packages", "nvidia", "cu13", "lib", "libcublas.so.13");
        Touch("site-packages", "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.12");
        Touch("site-packages", "nvidia", "cublas", "lib", "libcublas.so.12");
        var folders = CudaLibraries.SearchFolders(_ => null, [site], CudaLibraries.SafeFolders);
        foreach (var lib in new[] { CudaLibrary.Nvrtc, CudaLibrary.Cublas })
        {
            var all = CudaLibraries.Candidates(lib, folders, CudaLibraries.SafeFiles).Concat(CudaLibraries.LoaderNames(lib)).ToList();
            Assert.EndsWith(".so.13", all[0]); // the search order alone would take 13 (cu13 sorts first)
            var for12 = CudaLibraries.ForDriver(lib, all, 12080);
            Assert.EndsWith(".so.12", for12[0]);
            Assert.DoesNotContain(for12, c => c.EndsWith(".so.13", StringComparison.Ordinal));
            Assert.Contains(CudaLibraries.Stem(lib) + ".so", for12); // an unversioned name is checked after loading
            Assert.Equal(all, CudaLibraries.ForDriver(lib, all, 13000));
            Assert.Equal(all, CudaLibraries.ForDriver(lib, all, 0)); // driver version unknown: no filter
        }
        Assert.True(CudaLibraries.FitsDriver(CudaLibrary.Driver, "libcuda.so.1", 12080));
        Assert.False(CudaLibraries.FitsDriver(CudaLibrary.CublasLt, "/x/libcublasLt.so.13.1.0.3", 12080));
        Assert.Equal(12, CudaLibraries.DriverMajor(12080));
    }

    // ---- NVRTC's builtins, preloaded from NVRTC's own folder ----

    [Fact]
    public void The_nvrtc_builtins_are_found_next_to_the_nvrtc_that_was_loaded()
    {
        string nvrtc = Touch("wheel", "libnvrtc.so.13");
        string exact = Touch("wheel", "libnvrtc-builtins.so.13.0");
        string other = Touch("wheel", "libnvrtc-builtins.so.13.1");
        Touch("wheel", "libnvrtc-builtins.so.12.8");
        Touch("wheel", "libnvrtc-builtins.alt.so.13.0");
        Assert.Equal([exact, other], CudaLibraries.NvrtcBuiltins(nvrtc, 13, 0, CudaLibraries.SafeFiles));
        Assert.Empty(CudaLibraries.NvrtcBuiltins("libnvrtc.so.13", 13, 0, CudaLibraries.SafeFiles)); // the loader found it: its path finds the builtins
        Assert.Empty(CudaLibraries.NvrtcBuiltins(Touch("empty", "libnvrtc.so.12"), 12, 8, CudaLibraries.SafeFiles));
    }

    [Fact]
    public void The_gpu_check_script_puts_the_library_folders_on_the_loader_path()
    {
        string script = File.ReadAllText(Path.Combine(RepoRoot(), "tools", "gpu", "check.sh"));
        Assert.Contains("export LD_LIBRARY_PATH=\"$BERTSHARP_CUDA_LIBS", script);
    }

    internal static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    // ---- the PTX fallback targets what NVRTC supports ----

    [Fact]
    public void Kernel_targets_are_the_gpus_cubin_or_ptx_for_the_highest_supported_architecture_below_it()
    {
        int[] nvrtc12 = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];
        Assert.Equal([(90, false)], KernelSources.Targets(9, 0, nvrtc12));
        Assert.Equal([(90, true)], KernelSources.Targets(10, 0, nvrtc12)); // a GPU newer than NVRTC: not compute_100 again
        Assert.Equal([(90, true)], KernelSources.Targets(12, 0, nvrtc12));
        Assert.Equal([(86, true)], KernelSources.Targets(8, 8, [80, 86, 90]));
        Assert.Empty(KernelSources.Targets(7, 0, [75, 80]));
        Assert.Equal([(100, false), (100, true)], KernelSources.Targets(10, 0, null)); // NVRTC cannot say
        Assert.Equal("--gpu-architecture=compute_90", KernelSources.Options(90, true)[0]);
        Assert.Equal("--gpu-architecture=sm_100", KernelSources.Options(100, false)[0]);
    }

    // ---- the kernel cache ----

    [Fact]
    public void A_corrupt_or_truncated_kernel_cache_file_is_not_used_and_is_deleted()
    {
        string file = Path.Combine(Root, "cache", "k.cubin");
        var image = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        KernelSources.WriteCache(file, image);
        Assert.Equal(image, KernelSources.ReadCache(file));
        var bytes = File.ReadAllBytes(file);
        bytes[100] ^= 1;
        File.WriteAllBytes(file, bytes);
        Assert.Null(KernelSources.ReadCache(file));
        Assert.False(File.Exists(file));
        KernelSources.WriteCache(file, image);
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..500]);
        Assert.Null(KernelSources.ReadCache(file));
        File.WriteAllBytes(file, image); // a file of the old format (no checksum)
        Assert.Null(KernelSources.ReadCache(file));
        Assert.Null(KernelSources.ReadCache(Path.Combine(Root, "missing.cubin")));
    }

    // ---- launch shapes that use the whole GPU ----

    [Fact]
    public void Column_reductions_and_the_embedding_scatter_add_are_cut_into_chunks_from_the_shape_alone()
    {
        Assert.Equal(64, LaunchGeometry.ColumnChunkRows(37));
        Assert.Equal(1, LaunchGeometry.ColumnChunks(37));
        Assert.Equal(256, LaunchGeometry.ColumnChunks(16384));
        Assert.Equal(new Launch(24, 256, 32, 8), LaunchGeometry.ColumnPartials(16384, 768)); // was 24 blocks
        Assert.True(LaunchGeometry.ColumnChunks(10_000_000) <= LaunchGeometry.MaxColumnChunks);
        Assert.Equal(0, LaunchGeometry.ColumnChunks(0));
        Assert.Equal(16, LaunchGeometry.EmbeddingChunk(61));
        Assert.Equal(128, LaunchGeometry.EmbeddingChunk(16384));
        Assert.Equal(1024, LaunchGeometry.EmbeddingChunk(100_000_000));
        Assert.Equal(new Launch(64, 1, 256, 1), LaunchGeometry.EmbeddingLinks(16384));
        Assert.True(LaunchGeometry.EmbeddingRows(5, 0).IsEmpty);
    }

    // ---- on a GPU (or the emulated stack) ----

    /// <summary>On the emulator only (a real GPU's own driver and libraries decide there): runs the calling test's body in
    /// a child process on the emulator with <paramref name="environment"/> added; true when it ran there (and passed).</summary>
    private bool RanOnEmulatorWith(Dictionary<string, string> environment, [System.Runtime.CompilerServices.CallerMemberName] string method = "")
    {
        if (EmulatedGpu.IsChild) return false;
        if (CudaInfo.Probe().IsUsable) return true; // the emulator's knobs are not a real GPU's
        var r = EmulatedGpu.RunChild(GetType(), method, environment);
        Assert.True(r.ExitCode == 0, $"{method} on the CUDA emulator: exit {r.ExitCode}\n{EmulatedGpu.Tail(r.Output, 6000)}");
        return true;
    }

    [GpuFact]
    public void On_the_emulator_a_cuda_12_driver_gets_the_12_libraries_though_the_13_ones_come_first()
    {
        string twelve = Path.Combine(Root, "cu12");
        if (!EmulatedGpu.IsChild && !CudaInfo.Probe().IsUsable)
        {
            // A second folder, searched after the emulator's *.so.13, holding the same libraries as *.so.12.
            Directory.CreateDirectory(twelve);
            string emu = EmulatedGpu.Folder;
            foreach (var (from, to) in new[] { ("libnvrtc.so.13", "libnvrtc.so.12"), ("libcublas.so.13", "libcublas.so.12"),
                ("libcublasLt.so.13", "libcublasLt.so.12"), ("libcublasLt.so.13", "libcublasLt.so.13"), ("libcuda.so.1", "libcuda.so.1"),
                ("emu_abi.h", "emu_abi.h"), ("emu_device.h", "emu_device.h") }) // the emulator's NVRTC reads its headers beside itself
                File.CreateSymbolicLink(Path.Combine(twelve, to), Path.Combine(emu, from));
            Directory.CreateSymbolicLink(Path.Combine(twelve, "include"), Path.Combine(emu, "include"));
        }
        if (RanOnEmulatorWith(new()
        {
            [CudaLibraries.PathVariable] = $"{(EmulatedGpu.IsChild ? "" : EmulatedGpu.Folder)}:{twelve}",
            ["BERTSHARP_CUDA_EMU_DRIVER_VERSION"] = "12080",
            ["BERTSHARP_CUDA_EMU_NVRTC_VERSION"] = "12.8",
            ["BERTSHARP_TEST_CU12"] = twelve,
        })) return;
        twelve = Environment.GetEnvironmentVariable("BERTSHARP_TEST_CU12")!;
        var info = CudaInfo.Probe();
        Assert.True(info.IsUsable, info.Reason);
        Assert.Equal("12.8", info.DriverVersion);
        Assert.Contains(Path.Combine(twelve, "libnvrtc.so.12"), info.LibraryPaths);
        Assert.Contains(Path.Combine(twelve, "libcublas.so.12"), info.LibraryPaths);
        Assert.DoesNotContain(info.LibraryPaths, p => p.EndsWith(".so.13", StringComparison.Ordinal));
        using var gpu = CudaDevice.Open(0);
        using var x = gpu.Allocate(DType.Float32, 2);
        gpu.CopyToDevice<float>([0.5f, -1f], x);
        gpu.Tanh(x, x);
        Assert.Equal(MathF.Tanh(-1f), gpu.ToArray(x)[1], 6);
    }

    [GpuFact]
    public void On_the_emulator_a_gpu_newer_than_nvrtc_gets_ptx_for_the_highest_architecture_nvrtc_supports()
    {
        if (RanOnEmulatorWith(new()
        {
            ["BERTSHARP_CUDA_EMU_CC"] = "12.0",
            ["BERTSHARP_CUDA_EMU_NVRTC_ARCHS"] = "75,80,86,89,90",
            ["BERTSHARP_CUDA_CACHE"] = Path.Combine(Root, "kernels-ptx"),
        })) return;
        var nvrtc = CudaLibrariesLoaded.TryNvrtc(out string why);
        Assert.True(nvrtc is not null, why);
        Assert.Equal([75, 80, 86, 89, 90], nvrtc.SupportedArchitectures());
        // NVRTC's builtins were preloaded from its own folder (the emulator ships an empty one).
        Assert.Equal(Path.Combine(Path.GetDirectoryName(nvrtc.Path)!, "libnvrtc-builtins.so.13.0"), nvrtc.Builtins);
        using var gpu = CudaDevice.Open(0);
        Assert.Equal("sm_120", gpu.Info.Architecture);
        Assert.Contains("(--gpu-architecture=compute_90)", gpu.ModuleSource);
        using var x = gpu.Allocate(DType.Float32, 2);
        gpu.CopyToDevice<float>([0.5f, -1f], x);
        gpu.Tanh(x, x);
        Assert.Equal(MathF.Tanh(-1f), gpu.ToArray(x)[1], 6);
    }

    private static CudaDevice OpenWith(string variable, string value)
    {
        string? old = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, value);
        try { return CudaDevice.Open(0); }
        finally { Environment.SetEnvironmentVariable(variable, old); }
    }

    [GpuFact]
    public void A_corrupt_kernel_cache_file_is_compiled_anew()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        string cache = Path.Combine(Root, "kernels");
        using (var first = OpenWith("BERTSHARP_CUDA_CACHE", cache))
            Assert.StartsWith("compiled", first.ModuleSource);
        var file = Assert.Single(Directory.GetFiles(cache, "*.cubin").Concat(Directory.GetFiles(cache, "*.ptx")));
        using (var cached = OpenWith("BERTSHARP_CUDA_CACHE", cache))
            Assert.StartsWith("cache", cached.ModuleSource);
        var bytes = File.ReadAllBytes(file);
        for (int i = 0; i < bytes.Length; i += 64) bytes[i] = 0xEE;
        File.WriteAllBytes(file, bytes);
        using var gpu = OpenWith("BERTSHARP_CUDA_CACHE", cache);
        Assert.StartsWith("compiled", gpu.ModuleSource);
        using var x = gpu.Allocate(DType.Float32, 3);
        gpu.CopyToDevice<float>([1f, -2f, 3f], x);
        gpu.Tanh(x, x);
        Assert.Equal(MathF.Tanh(-2f), gpu.ToArray(x)[1], 6);
    }

    [GpuFact]
    public void Out_of_range_ids_and_targets_are_reported_with_the_cpus_message_and_the_device_keeps_working()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        int vocab = 97, dim = 5;
        int[] ids = [1, 2, 3, 97, 4];
        using var table = gpu.Allocate(DType.Float32, vocab * dim);
        using var tableCpu = Device.Cpu.Allocate(DType.Float32, vocab * dim);
        using var gi = gpu.Allocate(DType.Int32, ids.Length);
        using var ci = Device.Cpu.Allocate(DType.Int32, ids.Length);
        using var output = gpu.Allocate(DType.Float32, ids.Length * dim);
        using var outputCpu = Device.Cpu.Allocate(DType.Float32, ids.Length * dim);
        gpu.CopyToDevice<int>(ids, gi);
        Device.Cpu.CopyToDevice<int>(ids, ci);
        var cpu = Assert.ThrowsAny<ArgumentException>(() => Device.Cpu.EmbeddingForward(ci, tableCpu, dim, outputCpu, false));
        var e = Assert.Throws<BertSharpException>(() =>
        {
            gpu.EmbeddingForward(gi, table, dim, output, false);
            gpu.Synchronize();
        });
        Assert.StartsWith("ids: id 97 at position 3 is outside the table's 97 rows", e.Message);
        Assert.StartsWith("ids: id 97 at position 3 is outside the table's 97 rows", cpu.Message);
        Assert.Contains("bs_embedding_forward", e.Message);
        Assert.Equal(ErrorKind.BadInput, e.Kind);

        // The context is not poisoned: the next kernels run and agree with the CPU.
        int[] good = [1, 2, 3, 96, 4];
        var t = Enumerable.Range(0, vocab * dim).Select(i => (float)i).ToArray();
        gpu.CopyToDevice<float>(t, table);
        gpu.CopyToDevice<int>(good, gi);
        gpu.EmbeddingForward(gi, table, dim, output, false);
        Assert.Equal(96f * dim, gpu.ToArray(output)[3 * dim]);

        // Cross-entropy targets, forward and backward.
        int rows = 3, cols = 4;
        using var logits = gpu.Allocate(DType.Float32, rows * cols);
        using var targets = gpu.Allocate(DType.Int32, rows);
        using var losses = gpu.Allocate(DType.Float32, rows);
        using var lse = gpu.Allocate(DType.Float32, rows);
        gpu.CopyToDevice<int>([0, 4, -100], targets);
        var f = Assert.Throws<BertSharpException>(() => gpu.CopyToHost<float>(Forward(), new float[rows]));
        Assert.StartsWith("targets: target 4 at row 1 is outside [0, 4) and is not the ignore index -100", f.Message);
        var b = Assert.Throws<BertSharpException>(() =>
        {
            gpu.CrossEntropyBackward(logits, lse, targets, -100, rows, cols, 1f, logits);
            gpu.Synchronize();
        });
        Assert.Contains("bs_cross_entropy_backward", b.Message);
        gpu.CopyToDevice<int>([0, 3, -100], targets);
        Assert.Equal(0f, gpu.ToArray(Forward())[2]);

        TensorView Forward()
        {
            gpu.CrossEntropyForward(logits, rows, cols, targets, -100, losses, lse, default);
            return losses;
        }
    }

    [GpuFact]
    public void A_bad_batch_is_refused_on_the_host_before_the_copy_in_as_on_the_cpu()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        var config = BertConfig.FromJson("""{"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 16}""");
        int b = 2, t = 8, p = 2;
        var ids = Enumerable.Range(0, b * t).Select(i => 5 + i % 40).ToArray();
        ids[9] = 50;
        var batch = BertBatch.Create(b, t, p, ids, new int[b * t], Enumerable.Repeat(1, b * t).ToArray(), [1, 2, 1, 2], [6, 7, 8, 9], [1f, 1f, 1f, 1f], [0, 1]);
        string Message(Device d)
        {
            var parameters = new BertParameters(config, device: d);
            parameters.Initialize(1);
            var model = new BertForPreTraining(parameters);
            return Assert.ThrowsAny<ArgumentException>(() => model.Forward(batch, new DropoutContext(false, 1, 0))).Message;
        }
        using var gpu = CudaDevice.Open(0);
        Assert.Equal(Message(Device.Cpu), Message(gpu));
        Assert.Contains("input_ids[9] = 50", Message(gpu));
    }

    [GpuFact]
    public void The_sync_switch_names_the_failing_kernel_at_the_launch()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = OpenWith(CudaDevice.SyncVariable, "1");
        Assert.True(gpu.SyncEachLaunch);
        using var table = gpu.Allocate(DType.Float32, 4 * 3);
        using var ids = gpu.Allocate(DType.Int32, 2);
        using var output = gpu.Allocate(DType.Float32, 2 * 3);
        gpu.CopyToDevice<int>([0, -1], ids);
        var e = Assert.Throws<BertSharpException>(() => gpu.EmbeddingForward(ids, table, 3, output, false)); // no synchronisation needed
        Assert.Contains("id -1 at position 1", e.Message);
        Assert.Contains("bs_embedding_forward", e.Message);
        using var plain = CudaDevice.Open(0);
        Assert.False(plain.SyncEachLaunch);
    }

    [GpuFact]
    public void Devices_release_what_they_hold_even_when_the_constructor_fails()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using (var warm = CudaDevice.Open(0)) { }
        long before;
        using (var probe = CudaDevice.Open(0)) before = probe.MemoryInfo().Free;
        for (int i = 0; i < 3; i++)
        {
            using var gpu = CudaDevice.Open(0);
            using var x = gpu.Allocate(DType.Float32, 1 << 20);
            gpu.CopyToDevice<float>(new float[1 << 20], x);
        }
        using (KernelSources.OverrideModule(src => src + "\nthis is not CUDA C;\n"))
            Assert.Throws<BertSharp.Cuda.CudaException>(() => CudaDevice.Open(0));
        using var after = CudaDevice.Open(0);
        Assert.True(after.MemoryInfo().Free >= before - (64L << 20), $"free {after.MemoryInfo().Free} < {before}");
        using var y = after.Allocate(DType.Float32, 7);
        Assert.Equal(new float[7], after.ToArray(y));
    }

    [GpuFact]
    public void Uploads_to_many_batch_fields_keep_their_own_staging_buffers()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        var tensors = Enumerable.Range(0, 10).Select(_ => gpu.Allocate(DType.Int32, 100)).ToList();
        for (int step = 0; step < 3; step++)
        {
            for (int k = 0; k < tensors.Count; k++)
                gpu.CopyToDevice<int>(Enumerable.Range(0, 100).Select(i => step * 1000 + k * 100 + i).ToArray(), tensors[k]);
            for (int k = 0; k < tensors.Count; k++)
            {
                var back = new int[100];
                gpu.CopyToHost<int>(tensors[k], back);
                Assert.Equal(step * 1000 + k * 100 + 99, back[99]);
            }
        }
        foreach (var t in tensors) t.Dispose();
    }
}
