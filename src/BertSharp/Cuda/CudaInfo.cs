using System.Runtime.InteropServices;
using System.Text;

namespace BertSharp.Cuda;

/// <summary>What CUDA this process can use: the GPUs, the driver's and libraries' versions and paths, or one line
/// saying why there is none (<see cref="Reason"/>).</summary>
public sealed class CudaInfo
{
    /// <summary>The GPUs found (empty when CUDA is not usable).</summary>
    public IReadOnlyList<CudaDeviceInfo> Devices { get; }
    /// <summary>Why no GPU is usable (empty when one is): one line, e.g. "no usable CUDA GPU: libcuda.so.1 not found ...".</summary>
    public string Reason { get; }
    /// <summary>The driver's CUDA version ("13.0"), or null.</summary>
    public string? DriverVersion { get; }
    /// <summary>NVRTC's version ("13.0"), or null when it did not load.</summary>
    public string? NvrtcVersion { get; }
    /// <summary>cuBLAS's version ("13.0.2"), or null when it did not load.</summary>
    public string? CublasVersion { get; }
    /// <summary>The files loaded: driver, NVRTC, cuBLAS, cuBLASLt (those that loaded).</summary>
    public IReadOnlyList<string> LibraryPaths { get; }

    /// <summary>True when at least one GPU and every library the CUDA device needs are usable.</summary>
    public bool IsUsable => Devices.Count > 0 && Reason.Length == 0;

    private CudaInfo(IReadOnlyList<CudaDeviceInfo> devices, string reason, string? driver, string? nvrtc, string? cublas, IReadOnlyList<string> paths)
        => (Devices, Reason, DriverVersion, NvrtcVersion, CublasVersion, LibraryPaths) = (devices, reason, driver, nvrtc, cublas, paths);

    /// <summary>The one-line reason format: "no usable CUDA GPU: " + <paramref name="detail"/> (first line only).</summary>
    public static string NoCudaReason(string detail) => $"no usable CUDA GPU: {CudaLibraries.FirstLine(detail)}";

    private static CudaInfo? _cached;
    private static readonly object Gate = new();

    /// <summary>Probes once per process (loading libraries, initialising the driver) and remembers the answer.</summary>
    public static CudaInfo Probe()
    {
        lock (Gate) return _cached ??= ProbeNow();
    }

    private static unsafe CudaInfo ProbeNow()
    {
        var paths = new List<string>();
        var driver = CudaDriver.TryGet(out string why);
        if (driver is null) return new CudaInfo([], NoCudaReason(why), null, null, null, paths);
        paths.Add(driver.Path);
        int version = 0;
        driver.cuDriverGetVersion(&version);
        string driverVersion = CudaLibraries.FormatCudaVersion(version);
        int count = 0;
        int r = driver.cuDeviceGetCount(&count);
        var devices = new List<CudaDeviceInfo>();
        string reason = "";
        if (r != 0) reason = NoCudaReason($"cuDeviceGetCount failed: {driver.ErrorText(r)}");
        else if (count == 0) reason = NoCudaReason("the driver sees no GPU");
        for (int i = 0; i < count; i++)
        {
            int dev;
            if (driver.cuDeviceGet(&dev, i) != 0) continue;
            var name = new byte[256];
            fixed (byte* p = name) driver.cuDeviceGetName(p, name.Length, dev);
            nuint mem;
            driver.cuDeviceTotalMem(&mem, dev);
            int major, minor, sms;
            driver.cuDeviceGetAttribute(&major, 75, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
            driver.cuDeviceGetAttribute(&minor, 76, dev); // ..._MINOR
            driver.cuDeviceGetAttribute(&sms, 16, dev);   // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
            devices.Add(new CudaDeviceInfo(i, Encoding.UTF8.GetString(name).TrimEnd('\0'), (long)mem, major, minor, sms));
        }
        var nvrtc = CudaLibrariesLoaded.TryNvrtc(out string nvrtcWhy);
        string? nvrtcVersion = null;
        if (nvrtc is null) reason = reason.Length > 0 ? reason : NoCudaReason($"NVRTC: {nvrtcWhy}");
        else
        {
            paths.Add(nvrtc.Path);
            var (ma, mi) = nvrtc.Version();
            nvrtcVersion = $"{ma}.{mi}";
        }
        var cublas = CudaLibrariesLoaded.TryCublas(out string cublasWhy);
        string? cublasVersion = null;
        if (cublas is null) reason = reason.Length > 0 ? reason : NoCudaReason($"cuBLAS: {cublasWhy}");
        else
        {
            if (cublas.LtPath.Length > 0) paths.Add(cublas.LtPath);
            paths.Add(cublas.Path);
            int v = 0;
            cublas.cublasGetVersion(0, &v);
            cublasVersion = v > 0 ? $"{v / 10000}.{v / 100 % 100}.{v % 100}" : null;
        }
        return new CudaInfo(devices, reason, driverVersion, nvrtcVersion, cublasVersion, paths);
    }

    /// <summary>The report <c>bertsharp info</c> prints: one line per GPU and one for the versions, or the reason.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        if (Devices.Count == 0) return Reason;
        foreach (var d in Devices) sb.AppendLine(d.ToString());
        sb.Append($"CUDA driver {DriverVersion}, NVRTC {NvrtcVersion ?? "missing"}, cuBLAS {CublasVersion ?? "missing"}");
        if (Reason.Length > 0) sb.AppendLine().Append(Reason);
        return sb.ToString();
    }

    /// <summary>True on the operating systems this CUDA device supports (Linux x64).</summary>
    public static bool IsSupportedPlatform => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;
}
