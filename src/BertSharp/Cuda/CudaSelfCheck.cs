using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BertSharp.Tensors;

namespace BertSharp.Cuda;

/// <summary>
/// The check a GPU passes before its first training or inference (<see cref="Devices.Open(string, Precision?, out string)"/>): every CUDA kernel
/// against the CPU's on small random inputs (<see cref="DeviceComparison"/>, a second or two), once per (GPU, driver,
/// NVRTC and cuBLAS versions, kernel-source hash). The result is cached beside the compiled kernels
/// (<see cref="KernelSources.CacheFolder"/>, <c>selfcheck-KEY.json</c>), so later runs only read it; deleting the file
/// checks again. A GPU that fails is not used: <c>--device cuda</c> is one error naming the kernels that disagree,
/// <c>--device auto</c> takes the CPU and says why.
/// </summary>
public static class CudaSelfCheck
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The cache key (32 hex characters): SHA-256 of the GPU's name and compute capability, the driver, NVRTC
    /// and cuBLAS versions and the kernel module's source.</summary>
    public static string Key(CudaDeviceInfo device, string? driver, string? nvrtc, string? cublas, string kernelSource)
    {
        var text = new StringBuilder("bertsharp-selfcheck-1\0")
            .Append(device.Name).Append('\0').Append(device.Architecture).Append('\0')
            .Append(driver).Append('\0').Append(nvrtc).Append('\0').Append(cublas).Append('\0')
            .Append(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(kernelSource))));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>The result file for <paramref name="key"/> in <paramref name="folder"/>.</summary>
    public static string FileFor(string folder, string key) => Path.Combine(folder, $"selfcheck-{key}.json");

    /// <summary>The result file for GPU <paramref name="ordinal"/> of <paramref name="info"/> on this machine, with the
    /// kernels this process would compile; null when CUDA is not usable.</summary>
    public static string? FileFor(CudaInfo info, int ordinal)
    {
        if (!info.IsUsable || ordinal < 0 || ordinal >= info.Devices.Count) return null;
        string key = Key(info.Devices[ordinal], info.DriverVersion, info.NvrtcVersion, info.CublasVersion, KernelSources.Module());
        return FileFor(KernelSources.CacheFolder(Environment.GetEnvironmentVariable), key);
    }

    /// <summary>The cached result for GPU <paramref name="ordinal"/>, or null when it has not been checked (or the file
    /// is unreadable).</summary>
    public static CudaSelfCheckResult? Lookup(CudaInfo info, int ordinal)
        => FileFor(info, ordinal) is { } file ? Read(file) : null;

    /// <summary>Reads a result file; null when it is missing or not a result.</summary>
    public static CudaSelfCheckResult? Read(string file)
    {
        try
        {
            if (!System.IO.File.Exists(file)) return null;
            var r = JsonSerializer.Deserialize<CudaSelfCheckResult>(System.IO.File.ReadAllText(file));
            return r is null || r.Failed is null || r.Device is null ? null : r with { File = file };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException) { return null; }
    }

    /// <summary>The result for <paramref name="gpu"/>: the cached one, or the check run now and cached.</summary>
    public static CudaSelfCheckResult Ensure(CudaDevice gpu)
    {
        var info = CudaInfo.Probe();
        string file = FileFor(KernelSources.CacheFolder(Environment.GetEnvironmentVariable),
            Key(gpu.Info, info.DriverVersion, info.NvrtcVersion, info.CublasVersion, gpu.KernelSource));
        if (Read(file) is { } cached) return cached;
        var result = Run(gpu) with { File = file };
        Write(file, result);
        return result;
    }

    /// <summary>Runs the check on <paramref name="gpu"/> (not cached).</summary>
    public static CudaSelfCheckResult Run(CudaDevice gpu)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = DeviceComparison.Run(Device.Cpu, gpu);
        var failed = results.Where(r => !r.Passed)
            .Select(r => r.Error is null
                ? $"{r.Kernel} [{r.Shape}] max abs {r.MaxAbs.ToString("G3", CultureInfo.InvariantCulture)}"
                : $"{r.Kernel} [{r.Shape}] {r.Error}")
            .ToList();
        return new CudaSelfCheckResult(failed.Count == 0, failed, results.Count, gpu.Info.ToString(), DateTime.UtcNow, sw.Elapsed.TotalSeconds) { Fresh = true };
    }

    private static void Write(string file, CudaSelfCheckResult result)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            string tmp = file + "." + Environment.ProcessId + ".tmp";
            System.IO.File.WriteAllText(tmp, JsonSerializer.Serialize(result, Json));
            System.IO.File.Move(tmp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Why a GPU that failed is not used, one line: the GPU, the kernels that disagree (their names, the first
    /// few in full) and how to check again.</summary>
    public static string FailureReason(CudaSelfCheckResult r)
    {
        var names = r.Failed.Select(f => f.Split(' ')[0]).Distinct().ToList();
        string detail = string.Join("; ", r.Failed.Take(3).Select(CudaLibraries.FirstLine));
        return $"the CUDA self-check failed on {r.Device}: {names.Count} kernel(s) disagree with the CPU ({string.Join(", ", names)}): {detail}"
            + (r.File.Length > 0 ? $" (delete {r.File} to check again)" : "");
    }

    /// <summary>One line for <c>bertsharp info</c>: whether the check has passed on this GPU, failed, or not run yet.</summary>
    public static string Describe(CudaSelfCheckResult? r) => r is null
        ? "self-check: not run yet (it runs before the first training or inference on this GPU)"
        : r.Passed
            ? $"self-check: passed ({r.Kernels} kernel checks agree with the CPU, {r.CheckedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC)"
            : "self-check: FAILED: " + FailureReason(r);
}
