using System.Runtime.InteropServices;
using System.Text;

namespace BertSharp.Cuda;

/// <summary>A failed CUDA, NVRTC or cuBLAS call: one line naming the call and the error. The GPU, its driver or
/// its libraries are not what the program needs (or it ran out of GPU memory): <see cref="ErrorKind.BadInput"/>
/// (the command line's "bad input" exit code), since the environment, not the program, is wrong.</summary>
public sealed class CudaException(string message) : BertSharpException(message, ErrorKind.BadInput);

/// <summary>The CUDA driver API (<c>libcuda.so.1</c>) as unmanaged function pointers resolved once.</summary>
internal sealed unsafe class CudaDriver
{
    public readonly nint Handle;
    public readonly string Path;
    public readonly delegate* unmanaged<uint, int> cuInit;
    public readonly delegate* unmanaged<int*, int> cuDriverGetVersion;
    public readonly delegate* unmanaged<int*, int> cuDeviceGetCount;
    public readonly delegate* unmanaged<int*, int, int> cuDeviceGet;
    public readonly delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;
    public readonly delegate* unmanaged<nuint*, int, int> cuDeviceTotalMem;
    public readonly delegate* unmanaged<int*, int, int, int> cuDeviceGetAttribute;
    public readonly delegate* unmanaged<nint*, int, int> cuDevicePrimaryCtxRetain;
    public readonly delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease;
    public readonly delegate* unmanaged<nint, int> cuCtxSetCurrent;
    public readonly delegate* unmanaged<nuint*, nuint*, int> cuMemGetInfo;
    public readonly delegate* unmanaged<ulong*, nuint, int> cuMemAlloc;
    public readonly delegate* unmanaged<ulong, int> cuMemFree;
    public readonly delegate* unmanaged<void**, nuint, int> cuMemAllocHost;
    public readonly delegate* unmanaged<void*, int> cuMemFreeHost;
    public readonly delegate* unmanaged<ulong, void*, nuint, int> cuMemcpyHtoD;
    public readonly delegate* unmanaged<ulong, void*, nuint, nint, int> cuMemcpyHtoDAsync;
    public readonly delegate* unmanaged<void*, ulong, nuint, int> cuMemcpyDtoH;
    public readonly delegate* unmanaged<ulong, ulong, nuint, nint, int> cuMemcpyDtoDAsync;
    public readonly delegate* unmanaged<ulong, uint, nuint, nint, int> cuMemsetD32Async;
    public readonly delegate* unmanaged<ulong, ushort, nuint, nint, int> cuMemsetD16Async;
    public readonly delegate* unmanaged<nint*, uint, int> cuStreamCreate;
    public readonly delegate* unmanaged<nint, int> cuStreamSynchronize;
    public readonly delegate* unmanaged<nint, int> cuStreamDestroy;
    public readonly delegate* unmanaged<nint*, uint, int> cuEventCreate;
    public readonly delegate* unmanaged<nint, nint, int> cuEventRecord;
    public readonly delegate* unmanaged<nint, int> cuEventSynchronize;
    public readonly delegate* unmanaged<nint, int> cuEventDestroy;
    public readonly delegate* unmanaged<nint*, void*, int> cuModuleLoadData;
    public readonly delegate* unmanaged<nint*, nint, byte*, int> cuModuleGetFunction;
    public readonly delegate* unmanaged<nint, int> cuModuleUnload;
    public readonly delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> cuLaunchKernel;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorString;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorName;

    public CudaDriver(nint handle, string path)
    {
        (Handle, Path) = (handle, path);
        cuInit = (delegate* unmanaged<uint, int>)Get("cuInit");
        cuDriverGetVersion = (delegate* unmanaged<int*, int>)Get("cuDriverGetVersion");
        cuDeviceGetCount = (delegate* unmanaged<int*, int>)Get("cuDeviceGetCount");
        cuDeviceGet = (delegate* unmanaged<int*, int, int>)Get("cuDeviceGet");
        cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Get("cuDeviceGetName");
        cuDeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)Get("cuDeviceTotalMem_v2");
        cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Get("cuDeviceGetAttribute");
        cuDevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)Get("cuDevicePrimaryCtxRetain");
        cuDevicePrimaryCtxRelease = (delegate* unmanaged<int, int>)Get("cuDevicePrimaryCtxRelease_v2");
        cuCtxSetCurrent = (delegate* unmanaged<nint, int>)Get("cuCtxSetCurrent");
        cuMemGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)Get("cuMemGetInfo_v2");
        cuMemAlloc = (delegate* unmanaged<ulong*, nuint, int>)Get("cuMemAlloc_v2");
        cuMemFree = (delegate* unmanaged<ulong, int>)Get("cuMemFree_v2");
        cuMemAllocHost = (delegate* unmanaged<void**, nuint, int>)Get("cuMemAllocHost_v2");
        cuMemFreeHost = (delegate* unmanaged<void*, int>)Get("cuMemFreeHost");
        cuMemcpyHtoD = (delegate* unmanaged<ulong, void*, nuint, int>)Get("cuMemcpyHtoD_v2");
        cuMemcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, nint, int>)Get("cuMemcpyHtoDAsync_v2");
        cuMemcpyDtoH = (delegate* unmanaged<void*, ulong, nuint, int>)Get("cuMemcpyDtoH_v2");
        cuMemcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, nint, int>)Get("cuMemcpyDtoDAsync_v2");
        cuMemsetD32Async = (delegate* unmanaged<ulong, uint, nuint, nint, int>)Get("cuMemsetD32Async");
        cuMemsetD16Async = (delegate* unmanaged<ulong, ushort, nuint, nint, int>)Get("cuMemsetD16Async");
        cuStreamCreate = (delegate* unmanaged<nint*, uint, int>)Get("cuStreamCreate");
        cuStreamSynchronize = (delegate* unmanaged<nint, int>)Get("cuStreamSynchronize");
        cuStreamDestroy = (delegate* unmanaged<nint, int>)Get("cuStreamDestroy_v2");
        cuEventCreate = (delegate* unmanaged<nint*, uint, int>)Get("cuEventCreate");
        cuEventRecord = (delegate* unmanaged<nint, nint, int>)Get("cuEventRecord");
        cuEventSynchronize = (delegate* unmanaged<nint, int>)Get("cuEventSynchronize");
        cuEventDestroy = (delegate* unmanaged<nint, int>)Get("cuEventDestroy_v2");
        cuModuleLoadData = (delegate* unmanaged<nint*, void*, int>)Get("cuModuleLoadData");
        cuModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)Get("cuModuleGetFunction");
        cuModuleUnload = (delegate* unmanaged<nint, int>)Get("cuModuleUnload");
        cuLaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)Get("cuLaunchKernel");
        cuGetErrorString = (delegate* unmanaged<int, byte**, int>)Get("cuGetErrorString");
        cuGetErrorName = (delegate* unmanaged<int, byte**, int>)Get("cuGetErrorName");
    }

    private nint Get(string name) => NativeLibrary.TryGetExport(Handle, name, out var p)
        ? p : throw new CudaException($"CUDA driver {Path} lacks {name} (driver too old?)");

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> and the error when
    /// <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public void Check(int result, string call)
    {
        if (result != 0) throw new CudaException($"CUDA {call} failed: {ErrorText(result)}");
    }

    public string ErrorText(int result)
    {
        byte* name = null, text = null;
        cuGetErrorName(result, &name);
        cuGetErrorString(result, &text);
        string n = name == null ? $"CUDA error {result}" : Marshal.PtrToStringUTF8((nint)name)!;
        return text == null ? n : $"{n} ({Marshal.PtrToStringUTF8((nint)text)})";
    }

    private static CudaDriver? _instance;
    private static string? _failure;
    private static readonly object Gate = new();

    /// <summary>The loaded and initialised driver, or null with the one-line reason why there is none.</summary>
    public static CudaDriver? TryGet(out string reason)
    {
        lock (Gate)
        {
            if (_instance is null && _failure is null)
            {
                nint h = CudaLibraries.TryLoad(CudaLibrary.Driver, out string path, out string why);
                if (h == 0) _failure = why;
                else
                {
                    try
                    {
                        var d = new CudaDriver(h, path);
                        int r = d.cuInit(0);
                        if (r != 0) _failure = $"cuInit failed: {d.ErrorText(r)}";
                        else _instance = d;
                    }
                    catch (CudaException e) { _failure = e.Message; }
                }
            }
            reason = _failure ?? "";
            return _instance;
        }
    }
}

/// <summary>NVRTC (<c>libnvrtc.so.*</c>): compiles our CUDA C sources for the GPU at hand.</summary>
internal sealed unsafe class Nvrtc
{
    public readonly string Path;
    private readonly delegate* unmanaged<int*, int*, int> _version;
    private readonly delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> _create;
    private readonly delegate* unmanaged<nint, int, byte**, int> _compile;
    private readonly delegate* unmanaged<nint*, int> _destroy;
    private readonly delegate* unmanaged<nint, nuint*, int> _logSize, _cubinSize, _ptxSize;
    private readonly delegate* unmanaged<nint, byte*, int> _log, _cubin, _ptx;
    private readonly delegate* unmanaged<int, byte*> _errorString;
    private readonly delegate* unmanaged<int*, int> _numSupportedArchs;
    private readonly delegate* unmanaged<int*, int> _supportedArchs;

    /// <summary>The <c>libnvrtc-builtins</c> file preloaded from NVRTC's folder, or null (see
    /// <see cref="CudaLibraries.NvrtcBuiltins"/>).</summary>
    public readonly string? Builtins;

    public Nvrtc(nint handle, string path)
    {
        Path = path;
        nint Get(string name) => NativeLibrary.TryGetExport(handle, name, out var p) ? p : throw new CudaException($"NVRTC {path} lacks {name}");
        _version = (delegate* unmanaged<int*, int*, int>)Get("nvrtcVersion");
        _create = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)Get("nvrtcCreateProgram");
        _compile = (delegate* unmanaged<nint, int, byte**, int>)Get("nvrtcCompileProgram");
        _destroy = (delegate* unmanaged<nint*, int>)Get("nvrtcDestroyProgram");
        _logSize = (delegate* unmanaged<nint, nuint*, int>)Get("nvrtcGetProgramLogSize");
        _log = (delegate* unmanaged<nint, byte*, int>)Get("nvrtcGetProgramLog");
        _cubinSize = (delegate* unmanaged<nint, nuint*, int>)Get("nvrtcGetCUBINSize");
        _cubin = (delegate* unmanaged<nint, byte*, int>)Get("nvrtcGetCUBIN");
        _ptxSize = (delegate* unmanaged<nint, nuint*, int>)Get("nvrtcGetPTXSize");
        _ptx = (delegate* unmanaged<nint, byte*, int>)Get("nvrtcGetPTX");
        _errorString = (delegate* unmanaged<int, byte*>)Get("nvrtcGetErrorString");
        // NVRTC 11.2 and later list the architectures they can target.
        if (NativeLibrary.TryGetExport(handle, "nvrtcGetNumSupportedArchs", out var n) && NativeLibrary.TryGetExport(handle, "nvrtcGetSupportedArchs", out var a))
        {
            _numSupportedArchs = (delegate* unmanaged<int*, int>)n;
            _supportedArchs = (delegate* unmanaged<int*, int>)a;
        }
        // NVRTC dlopens libnvrtc-builtins.so.X.Y by bare name while compiling: loaded by full path from a folder that
        // is not on the loader path (a pip wheel), every compile would fail. Preloading it by full path makes that
        // dlopen find the already-loaded library by its soname.
        var (major, minor) = Version();
        foreach (var b in CudaLibraries.NvrtcBuiltins(path, major, minor, CudaLibraries.SafeFiles))
        {
            if (NativeLibrary.TryLoad(b, out _)) { Builtins = b; break; }
        }
    }

    /// <summary>The compute capabilities this NVRTC can target (75, 80, 90, ...), or null when it cannot say (older
    /// than 11.2).</summary>
    public IReadOnlyList<int>? SupportedArchitectures()
    {
        if (_numSupportedArchs == null) return null;
        int count;
        if (_numSupportedArchs(&count) != 0 || count <= 0) return null;
        var archs = new int[count];
        fixed (int* p = archs) if (_supportedArchs(p) != 0) return null;
        return archs;
    }

    /// <summary>NVRTC's version (major, minor).</summary>
    public (int Major, int Minor) Version()
    {
        int major, minor;
        _version(&major, &minor);
        return (major, minor);
    }

    /// <summary>Compiles <paramref name="source"/>; returns the cubin (or PTX when <paramref name="ptx"/>) or throws
    /// with the compiler's log.</summary>
    public byte[] Compile(string source, string name, IReadOnlyList<string> options, bool ptx)
    {
        nint prog;
        var src = Utf8(source);
        var nm = Utf8(name);
        fixed (byte* ps = src, pn = nm)
            Check(_create(&prog, ps, pn, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var opts = options.Select(Utf8).ToArray();
            var handles = opts.Select(o => GCHandle.Alloc(o, GCHandleType.Pinned)).ToArray();
            try
            {
                var ptrs = stackalloc byte*[opts.Length];
                for (int i = 0; i < opts.Length; i++) ptrs[i] = (byte*)handles[i].AddrOfPinnedObject();
                int r = _compile(prog, opts.Length, ptrs);
                if (r != 0)
                    throw new CudaException($"NVRTC could not compile {name} ({string.Join(' ', options)}): {ErrorText(r)}: {OneLine(Log(prog))}"
                        + (r == 7 && Builtins is null ? $" (no libnvrtc-builtins.so next to {Path}: put the folder that holds it on LD_LIBRARY_PATH)" : ""));
            }
            finally
            {
                foreach (var h in handles) h.Free();
            }
            nuint size;
            Check(ptx ? _ptxSize(prog, &size) : _cubinSize(prog, &size), ptx ? "nvrtcGetPTXSize" : "nvrtcGetCUBINSize");
            var result = new byte[size];
            fixed (byte* p = result) Check(ptx ? _ptx(prog, p) : _cubin(prog, p), ptx ? "nvrtcGetPTX" : "nvrtcGetCUBIN");
            return result;
        }
        finally
        {
            _destroy(&prog);
        }
    }

    private string Log(nint prog)
    {
        nuint size;
        if (_logSize(prog, &size) != 0 || size == 0) return "";
        var buffer = new byte[size];
        fixed (byte* p = buffer) _log(prog, p);
        return Encoding.UTF8.GetString(buffer).TrimEnd('\0');
    }

    private static string OneLine(string log)
    {
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var errors = lines.Where(l => l.Contains("error", StringComparison.Ordinal)).Take(3).ToList();
        return string.Join(" | ", errors.Count > 0 ? errors : lines.Take(3));
    }

    private string ErrorText(int r) => Marshal.PtrToStringUTF8((nint)_errorString(r)) ?? $"NVRTC error {r}";

    private void Check(int r, string call)
    {
        if (r != 0) throw new CudaException($"NVRTC {call} failed: {ErrorText(r)}");
    }

    internal static byte[] Utf8(string s)
    {
        var b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, b);
        return b;
    }
}

/// <summary>cuBLAS (<c>libcublas.so.*</c>, loaded after <c>libcublasLt.so.*</c>, which it needs): GEMMs with
/// float32 compute on float32 or bfloat16 operands (CUBLAS_COMPUTE_32F), or TF32 tensor-op compute on float32 operands
/// when the device's precision is tf32 (CUBLAS_COMPUTE_32F_FAST_TF32).</summary>
internal sealed unsafe class Cublas
{
    public const int OpN = 0, OpT = 1;
    public const int R32F = 0, R16BF = 14;
    public const int Compute32F = 68, Compute32FFastTf32 = 77;
    public const int GemmDefault = -1;
    public const int DefaultMath = 0, PedanticMath = 2;

    public readonly string Path, LtPath;
    public readonly delegate* unmanaged<nint*, int> cublasCreate;
    public readonly delegate* unmanaged<nint, int> cublasDestroy;
    public readonly delegate* unmanaged<nint, nint, int> cublasSetStream;
    public readonly delegate* unmanaged<nint, int, int> cublasSetMathMode;
    public readonly delegate* unmanaged<nint, int*, int> cublasGetVersion;
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int> cublasGemmEx;
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, long, void*, int, int, long, void*, void*, int, int, long, int, int, int, int> cublasGemmStridedBatchedEx;
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int, int> cublasGemmBatchedEx;
    public readonly nuint LtVersion;

    public Cublas(nint handle, string path, nint lt, string ltPath)
    {
        (Path, LtPath) = (path, ltPath);
        nint Get(string name) => NativeLibrary.TryGetExport(handle, name, out var p) ? p : throw new CudaException($"cuBLAS {path} lacks {name}");
        cublasCreate = (delegate* unmanaged<nint*, int>)Get("cublasCreate_v2");
        cublasDestroy = (delegate* unmanaged<nint, int>)Get("cublasDestroy_v2");
        cublasSetStream = (delegate* unmanaged<nint, nint, int>)Get("cublasSetStream_v2");
        cublasSetMathMode = (delegate* unmanaged<nint, int, int>)Get("cublasSetMathMode");
        cublasGetVersion = (delegate* unmanaged<nint, int*, int>)Get("cublasGetVersion_v2");
        cublasGemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int>)Get("cublasGemmEx");
        cublasGemmStridedBatchedEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, long, void*, int, int, long, void*, void*, int, int, long, int, int, int, int>)Get("cublasGemmStridedBatchedEx");
        cublasGemmBatchedEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int, int>)Get("cublasGemmBatchedEx");
        if (lt != 0 && NativeLibrary.TryGetExport(lt, "cublasLtGetVersion", out var v))
            LtVersion = ((delegate* unmanaged<nuint>)v)();
    }

    public static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException($"cuBLAS {call} failed: {StatusName(status)}");
    }

    /// <summary>cublasStatus_t's name.</summary>
    public static string StatusName(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cuBLAS status {status}",
    };
}

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
