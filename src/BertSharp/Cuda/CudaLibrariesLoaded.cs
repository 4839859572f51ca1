using System.Runtime.InteropServices;

namespace BertSharp.Cuda;

/// <summary>The loaded NVRTC and cuBLAS, once per process.</summary>
internal static class CudaLibrariesLoaded
{
    private static readonly object Gate = new();
    private static Nvrtc? _nvrtc;
    private static Cublas? _cublas;
    private static string? _nvrtcFailure, _cublasFailure;

    /// <summary>The driver's CUDA version (<c>cuDriverGetVersion</c>), 0 when no driver loads: libraries newer than
    /// the driver are skipped (<see cref="CudaLibraries.ForDriver"/>).</summary>
    private static unsafe int DriverVersion()
    {
        var d = CudaDriver.TryGet(out _);
        if (d is null) return 0;
        int v = 0;
        return d.cuDriverGetVersion(&v) == 0 ? v : 0;
    }

    private static unsafe string? NvrtcNewerThan(nint handle, int driverVersion)
    {
        if (driverVersion <= 0 || !NativeLibrary.TryGetExport(handle, "nvrtcVersion", out var f)) return null;
        int major = 0, minor = 0;
        ((delegate* unmanaged<int*, int*, int>)f)(&major, &minor);
        return major > CudaLibraries.DriverMajor(driverVersion)
            ? $"NVRTC {major}.{minor} is newer than the CUDA {CudaLibraries.FormatCudaVersion(driverVersion)} driver" : null;
    }

    public static Nvrtc? TryNvrtc(out string reason)
    {
        lock (Gate)
        {
            if (_nvrtc is null && _nvrtcFailure is null)
            {
                int driver = DriverVersion();
                nint h = CudaLibraries.TryLoad(CudaLibrary.Nvrtc, driver, (lib, _) => NvrtcNewerThan(lib, driver), out string path, out string why);
                if (h == 0) _nvrtcFailure = why;
                else
                    try { _nvrtc = new Nvrtc(h, path); }
                    catch (CudaException e) { _nvrtcFailure = e.Message; }
            }
            reason = _nvrtcFailure ?? "";
            return _nvrtc;
        }
    }

    public static Cublas? TryCublas(out string reason)
    {
        lock (Gate)
        {
            if (_cublas is null && _cublasFailure is null)
            {
                int driver = DriverVersion();
                nint lt = CudaLibraries.TryLoad(CudaLibrary.CublasLt, driver, null, out string ltPath, out _);
                nint h = CudaLibraries.TryLoad(CudaLibrary.Cublas, driver, null, out string path, out string why);
                if (h == 0) _cublasFailure = why;
                else
                    try { _cublas = new Cublas(h, path, lt, ltPath); }
                    catch (CudaException e) { _cublasFailure = e.Message; }
            }
            reason = _cublasFailure ?? "";
            return _cublas;
        }
    }
}
