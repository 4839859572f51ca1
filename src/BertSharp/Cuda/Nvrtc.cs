using System.Runtime.InteropServices;
using System.Text;

namespace BertSharp.Cuda;

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
