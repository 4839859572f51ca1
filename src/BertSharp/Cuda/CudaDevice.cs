using System.Runtime.InteropServices;
using BertSharp.Tensors;

namespace BertSharp.Cuda;

/// <summary>
/// A CUDA GPU behind the <see cref="Device"/> surface (docs/ARCHITECTURE.md, "How a CUDA device implements the same
/// surface"): tensors in plain device memory (<c>cuMemAlloc</c>), every kernel and cuBLAS call issued asynchronously
/// on one stream in program order, the host waiting only where a value comes back (<see cref="CopyToHost{T}"/>,
/// <see cref="SumOfSquares"/>). Matrix products are cuBLAS GEMMs with float32 compute (no TF32); the other kernels
/// are our CUDA C (<c>Cuda/Kernels</c>), compiled by NVRTC for the GPU at first use and cached on disk.
/// </summary>
public sealed unsafe class CudaDevice : Device
{
    /// <summary>The debug switch: <c>BERTSHARP_CUDA_SYNC=1</c> synchronises after every kernel and cuBLAS launch, so a
    /// failing launch is named (it is otherwise reported at the next synchronisation) and index checks fail at once.</summary>
    public const string SyncVariable = "BERTSHARP_CUDA_SYNC";

    private readonly CudaDriver _d;
    private readonly Cublas _blas;
    private readonly int _device;
    private readonly bool _retained;
    private readonly nint _context, _stream, _module, _blasHandle;
    private readonly Dictionary<string, nint> _functions = new(StringComparer.Ordinal);
    private readonly ulong _partials; // SumOfSquaresBlocks + 1 doubles
    private readonly HashSet<Staging> _stagings = [];
    private readonly Dictionary<(ulong, ulong, ulong, long, long, long, long, long, long, int, int), ulong> _pointerArrays = [];
    private ulong _scratch;
    private Precision _precision = Precision.Fp32;
    private DeviceTensor? _bf16A, _bf16B; // bf16 copies of float32 operands (bf16 precision), grown when needed
    private long _scratchBytes;
    private bool _disposed;
    private string _lastLaunch = "none";

    // Index checks: a kernel that reads ids or targets gets a slot (one 64-bit word, all ones when clear) where it
    // reports an out-of-range value (bs_report) instead of reading outside an allocation; the host reads the slots at
    // every synchronisation and throws the CPU's message. Slots are handed out in launch order and recycled then.
    private const int CheckSlots = 64;
    private readonly ulong _checks;
    private readonly IndexCheck[] _checkInfo = new IndexCheck[CheckSlots];
    private int _checksUsed;

    private readonly record struct IndexCheck(string Kernel, bool Targets, long Limit, int Ignore);

    [ThreadStatic] private static CudaDevice? t_current;

    /// <summary>True when <see cref="SyncVariable"/> asks for a synchronisation after every launch.</summary>
    public bool SyncEachLaunch { get; }

    /// <summary>The GPU this device runs on.</summary>
    public CudaDeviceInfo Info { get; }

    /// <summary>Where the module came from: "compiled in N ms" or "cache".</summary>
    public string ModuleSource { get; }

    /// <summary>The CUDA C source of the module this device runs (<see cref="KernelSources.Module"/> when it opened).</summary>
    internal string KernelSource { get; } = "";

    /// <inheritdoc/>
    public override string Name => $"cuda:{Info.Ordinal}";

    /// <inheritdoc/>
    public override Precision Precision => _precision;

    /// <summary>This device when it already computes in <paramref name="precision"/>; a CUDA device takes its precision
    /// when it is opened (<see cref="Devices.Open(string, Precision?, out string)"/>), so another one is a usage error.</summary>
    public override Device WithPrecision(Precision precision) => precision == _precision ? this
        : throw new BertSharpException($"precision {precision.Name()}: {Name} was opened in {_precision.Name()}; open it in {precision.Name()} (Devices.Open)", ErrorKind.Usage);

    /// <summary>Sets how matrix products run, once, when the device is opened (after its self-check, which runs in fp32):
    /// bf16 and tf32 need tensor cores of compute capability 8.0 or newer.</summary>
    internal void SetPrecision(Precision precision)
    {
        if (precision != Precision.Fp32 && Info.Major < 8)
            throw new BertSharpException($"precision {precision.Name()}: {Name} ({Info.Name}) has compute capability {Info.Major}.{Info.Minor}; bf16 and tf32 need 8.0 or newer", ErrorKind.Usage);
        _precision = precision;
    }

    /// <summary>Copies up to this size (a batch field: ids of 512 × 512 tokens are 1 MiB) go through the destination's
    /// pinned staging buffer asynchronously; larger ones (parameters, checkpoints) are synchronous, so no tensor keeps
    /// a large pinned buffer.</summary>
    private const long StagingLimit = 4L << 20;

    /// <summary>A pinned host buffer for the asynchronous copies into one tensor (one per batch field), reused only after
    /// the stream has passed its previous copy.</summary>
    private sealed class Staging
    {
        public byte* Ptr;
        public long Capacity;
        public nint Event;
        public bool Pending;
    }

    private CudaDevice(CudaDriver driver, Cublas blas, Nvrtc nvrtc, CudaDeviceInfo info, int driverVersion)
    {
        (_d, _blas, Info) = (driver, blas, info);
        SyncEachLaunch = Environment.GetEnvironmentVariable(SyncVariable) is "1" or "true" or "yes";
        try
        {
            int dev;
            _d.Check(_d.cuDeviceGet(&dev, info.Ordinal), "cuDeviceGet");
            _device = dev;
            nint ctx;
            _d.Check(_d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
            (_context, _retained) = (ctx, true);
            MakeCurrent();
            nint stream;
            _d.Check(_d.cuStreamCreate(&stream, 0), "cuStreamCreate");
            _stream = stream;

            KernelSource = KernelSources.Module();
            _module = LoadModule(nvrtc, info, driverVersion, KernelSource, out string source);
            ModuleSource = source;

            nint h;
            Cublas.Check(_blas.cublasCreate(&h), "cublasCreate");
            _blasHandle = h;
            Cublas.Check(_blas.cublasSetStream(h, _stream), "cublasSetStream");
            Cublas.Check(_blas.cublasSetMathMode(h, Cublas.DefaultMath), "cublasSetMathMode"); // no TF32

            ulong partials;
            _d.Check(_d.cuMemAlloc(&partials, (nuint)((LaunchGeometry.SumOfSquaresBlocks + 1) * sizeof(double))), "cuMemAlloc");
            _partials = partials;
            ulong checks;
            _d.Check(_d.cuMemAlloc(&checks, CheckSlots * sizeof(ulong)), "cuMemAlloc");
            _checks = checks;
            _d.Check(_d.cuMemsetD32Async(_checks, uint.MaxValue, CheckSlots * 2, _stream), "cuMemsetD32Async");
        }
        catch
        {
            Release(); // what the failing constructor created: nothing else will free it
            throw;
        }
    }

    /// <summary>Opens GPU <paramref name="ordinal"/>; throws <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>)
    /// when CUDA is not usable or there is no such GPU.</summary>
    public static CudaDevice Open(int ordinal = 0)
    {
        var info = CudaInfo.Probe();
        if (!info.IsUsable) throw new BertSharpException($"Device cuda:{ordinal}: {info.Reason}", ErrorKind.Usage) { Properties = ["Device"] };
        if (ordinal < 0 || ordinal >= info.Devices.Count)
            throw new BertSharpException($"Device cuda:{ordinal}: this machine has {info.Devices.Count} CUDA GPU(s) (cuda:0..cuda:{info.Devices.Count - 1})", ErrorKind.Usage)
            { Properties = ["Device"] };
        var driver = CudaDriver.TryGet(out _)!;
        var nvrtc = CudaLibrariesLoaded.TryNvrtc(out _)!;
        var blas = CudaLibrariesLoaded.TryCublas(out _)!;
        int version;
        driver.cuDriverGetVersion(&version);
        return new CudaDevice(driver, blas, nvrtc, info.Devices[ordinal], version);
    }

    /// <summary>The kernel module: from the cache when a valid file is there (a corrupt one, or one the driver refuses,
    /// is deleted and compiled anew), else compiled by NVRTC for the targets <see cref="KernelSources.Targets"/> lists
    /// (the GPU's cubin, or PTX for the highest architecture NVRTC supports at or below the GPU's).</summary>
    private nint LoadModule(Nvrtc nvrtc, CudaDeviceInfo info, int driverVersion, string source, out string description)
    {
        var (ma, mi) = nvrtc.Version();
        string folder = KernelSources.CacheFolder(Environment.GetEnvironmentVariable);
        var supported = nvrtc.SupportedArchitectures();
        var targets = KernelSources.Targets(info.Major, info.Minor, supported);
        if (targets.Count == 0)
            throw new CudaException($"NVRTC {ma}.{mi} targets compute capabilities {string.Join(", ", supported!.Select(a => $"{a / 10}.{a % 10}"))}, none at or below {info.Name}'s {info.Major}.{info.Minor}");
        CudaException? last = null;
        foreach (var (arch, ptx) in targets)
        {
            var options = KernelSources.Options(arch, ptx);
            string key = KernelSources.CacheKey(source, info.Architecture, driverVersion, $"{ma}.{mi}", options);
            string file = KernelSources.CacheFile(folder, key, ptx);
            if (KernelSources.ReadCache(file) is { } cached)
            {
                if (TryLoadModule(cached, out nint m) == 0)
                {
                    description = "cache " + file;
                    return m;
                }
                KernelSources.DeleteCache(file); // the driver refused it: compile anew
            }
            byte[] image;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                image = nvrtc.Compile(source, "bertsharp_kernels.cu", options, ptx);
            }
            catch (CudaException e)
            {
                last = e; // e.g. an NVRTC that cannot say what it supports and does not know the GPU: try its PTX
                continue;
            }
            if (ptx && (image.Length == 0 || image[^1] != 0)) image = [.. image, 0];
            int r = TryLoadModule(image, out nint module);
            if (r != 0)
            {
                last = new CudaException($"CUDA cuModuleLoadData failed for {options[0]} from NVRTC {ma}.{mi}: {_d.ErrorText(r)}");
                continue;
            }
            KernelSources.WriteCache(file, image);
            description = $"compiled by NVRTC {ma}.{mi} in {sw.ElapsedMilliseconds} ms ({options[0]})";
            return module;
        }
        throw last ?? new CudaException($"NVRTC {ma}.{mi} could not compile the kernels for {info.Architecture}");
    }

    private int TryLoadModule(byte[] image, out nint module)
    {
        nint m;
        int r;
        fixed (byte* p = image) r = _d.cuModuleLoadData(&m, p);
        module = r == 0 ? m : 0;
        return r;
    }

    private void MakeCurrent()
    {
        if (ReferenceEquals(t_current, this)) return;
        _d.Check(_d.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        t_current = this;
    }

    private nint Function(string name)
    {
        if (_functions.TryGetValue(name, out var f)) return f;
        var bytes = Nvrtc.Utf8(name);
        fixed (byte* p = bytes) _d.Check(_d.cuModuleGetFunction(&f, _module, p), $"cuModuleGetFunction({name})");
        _functions[name] = f;
        return f;
    }

    private void Run(string kernel, Launch g, params ReadOnlySpan<ulong> args)
    {
        if (g.IsEmpty) return;
        MakeCurrent();
        nint f = Function(kernel);
        void** ptrs = stackalloc void*[args.Length];
        fixed (ulong* a = args)
        {
            for (int i = 0; i < args.Length; i++) ptrs[i] = a + i;
            _d.Check(_d.cuLaunchKernel(f, g.GridX, g.GridY, 1, g.BlockX, g.BlockY, 1, 0, _stream, ptrs, null), kernel);
        }
        Launched(kernel);
    }

    /// <summary>Remembers the last launch (named when a later synchronisation fails) and, under
    /// <see cref="SyncVariable"/>, waits for it and names it if it failed.</summary>
    private void Launched(string what)
    {
        _lastLaunch = what;
        if (!SyncEachLaunch) return;
        int r = _d.cuStreamSynchronize(_stream);
        if (r != 0) throw new CudaException($"CUDA {what} failed: {_d.ErrorText(r)} (found by {SyncVariable}=1)");
        ReadChecks();
    }

    /// <summary>Waits for the stream; a failure names the last launch (an asynchronous error surfaces here), then reads
    /// the index checks.</summary>
    private void Sync()
    {
        int r = _d.cuStreamSynchronize(_stream);
        if (r != 0)
            throw new CudaException($"CUDA cuStreamSynchronize failed: {_d.ErrorText(r)} (an earlier launch failed; the last was {_lastLaunch}; "
                + $"set {SyncVariable}=1 to name the failing one)");
        ReadChecks();
    }

    /// <summary>A check slot for the next launch of <paramref name="kernel"/> (see <see cref="_checks"/>).</summary>
    private ulong CheckSlot(string kernel, bool targets, long limit, int ignore = 0)
    {
        if (_checksUsed == CheckSlots) Sync(); // reads and recycles the slots
        int k = _checksUsed++;
        _checkInfo[k] = new IndexCheck(kernel, targets, limit, ignore);
        return _checks + (ulong)k * sizeof(ulong);
    }

    /// <summary>After a synchronisation: throws the CPU's message for the first slot that reports an out-of-range
    /// index (<see cref="ErrorKind.BadInput"/>), and recycles the slots.</summary>
    private void ReadChecks()
    {
        int used = _checksUsed;
        if (used == 0) return;
        _checksUsed = 0;
        ulong* host = stackalloc ulong[used];
        _d.Check(_d.cuMemcpyDtoH(host, _checks, (nuint)(used * sizeof(ulong))), "cuMemcpyDtoH");
        for (int k = 0; k < used; k++)
        {
            if (host[k] == ulong.MaxValue) continue;
            _d.Check(_d.cuMemsetD32Async(_checks, uint.MaxValue, (nuint)(used * 2), _stream), "cuMemsetD32Async");
            long position = (long)(host[k] >> 32);
            int value = (int)(uint)host[k];
            var c = _checkInfo[k];
            string what = c.Targets
                ? $"targets: target {value} at row {position} is outside [0, {c.Limit}) and is not the ignore index {c.Ignore}"
                : $"ids: id {value} at position {position} is outside the table's {c.Limit} rows";
            throw new BertSharpException($"{what} ({Name}, {c.Kernel})", ErrorKind.BadInput);
        }
    }

    /// <summary>Device scratch of at least <paramref name="bytes"/> (column partial sums, the embedding scatter-add's
    /// links), grown when needed and reused: launches are stream-ordered, so one buffer serves them all.</summary>
    private ulong Scratch(long bytes)
    {
        if (bytes <= _scratchBytes) return _scratch;
        Sync();
        if (_scratch != 0) _d.cuMemFree(_scratch);
        (_scratch, _scratchBytes) = (0, 0);
        long capacity = Math.Max(bytes, 1L << 20);
        ulong p;
        int r = _d.cuMemAlloc(&p, (nuint)capacity);
        if (r != 0) throw new CudaException($"{Name}: cannot allocate {capacity / 1048576.0:F1} MiB of scratch: {_d.ErrorText(r)}");
        (_scratch, _scratchBytes) = (p, capacity);
        return p;
    }

    private static ulong A(float f) => BitConverter.SingleToUInt32Bits(f);
    private static ulong A(int i) => (uint)i;
    private static ulong A(long l) => (ulong)l;

    // ---- tensors and views ----

    private sealed class CudaTensor : DeviceTensor
    {
        private readonly CudaDevice _owner;
        public ulong Ptr;
        public Staging? Staging;

        public CudaTensor(CudaDevice owner, DType type, int[] shape) : base(owner, type, shape)
        {
            _owner = owner;
            long bytes = (long)Length * ElementSize(type);
            if (bytes == 0) return;
            owner.MakeCurrent();
            ulong p;
            int r = owner._d.cuMemAlloc(&p, (nuint)bytes);
            if (r != 0)
                throw new CudaException($"{owner.Name}: cannot allocate {bytes / 1048576.0:F1} MiB for a [{string.Join(", ", shape)}] {type} tensor: {owner._d.ErrorText(r)}");
            Ptr = p;
            owner.Zero(this);
        }

        public override void Dispose()
        {
            if (_owner._disposed) return;
            if (Staging is { } s)
            {
                _owner.FreeStaging(s);
                Staging = null;
            }
            if (Ptr == 0) return;
            _owner.MakeCurrent();
            _owner._d.cuMemFree(Ptr); // cuMemFree waits for work on the memory to finish
            Ptr = 0;
        }
    }

    private static int ElementSize(DType t) => t == DType.BFloat16 ? 2 : 4;

    private CudaTensor T(TensorView v, string name) => v.Tensor is CudaTensor t && ReferenceEquals(t.Device, this)
        ? t : throw new ArgumentException($"{name}: a tensor of {v.Tensor?.Device.Name ?? "nothing"}, not of {Name}");

    private ulong P(TensorView v, string name, DType type, long need = -1)
    {
        var t = T(v, name);
        if (v.Type != type) throw new ArgumentException($"{name}: a {v.Type} view where {type} is needed");
        if (need >= 0 && v.Length < need) throw new ArgumentException($"{name}: need {need} elements, got {v.Length}");
        return t.Ptr + (ulong)v.Offset * (ulong)ElementSize(type);
    }

    private ulong F(TensorView v, string name, long need = -1) => P(v, name, DType.Float32, need);
    // An activation operand (Float32, or BFloat16 when bf: Bf16Activations decided for the whole call).
    private ulong X(TensorView v, string name, bool bf, long need = -1) => P(v, name, bf ? DType.BFloat16 : DType.Float32, need);
    private ulong I(TensorView v, string name, long need = -1) => P(v, name, DType.Int32, need);

    private ulong AnyP(TensorView v, string name) => T(v, name).Ptr + (ulong)v.Offset * (ulong)ElementSize(v.Type);

    private static void Same(int length, int need, string name, string other)
    {
        if (length != need) throw new ArgumentException($"{name}: {length} elements where {other} has {need}");
    }

    // ---- memory ----

    /// <inheritdoc/>
    public override DeviceTensor Allocate(DType type, params int[] shape) => new CudaTensor(this, type, shape);

    /// <inheritdoc/>
    public override void CopyToDevice<T>(ReadOnlySpan<T> source, TensorView destination)
    {
        CheckElement<T>(destination, "destination");
        if (source.Length != destination.Length)
            throw new ArgumentException($"copy to device: {source.Length} host elements for a view of {destination.Length}");
        long bytes = (long)source.Length * sizeof(T);
        if (bytes == 0) return;
        ulong dst = AnyP(destination, "destination");
        MakeCurrent();
        var src = MemoryMarshal.AsBytes(source);
        if (bytes > StagingLimit)
        {
            // Large (parameters, checkpoints): a synchronous copy from the caller's memory, ordered after the stream.
            Sync();
            fixed (byte* p = src) _d.Check(_d.cuMemcpyHtoD(dst, p, (nuint)bytes), "cuMemcpyHtoD");
            return;
        }
        // Small (a batch): into the destination tensor's own pinned staging buffer (one per batch field), then an
        // asynchronous copy. The buffer is reused only after the stream has passed its previous copy, the same
        // field's in the previous step, long done: uploading a batch never waits for the GPU.
        var tensor = (CudaTensor)destination.Tensor;
        var s = tensor.Staging ??= NewStaging();
        if (s.Pending) _d.Check(_d.cuEventSynchronize(s.Event), "cuEventSynchronize");
        s.Pending = false;
        if (s.Capacity < bytes)
        {
            if (s.Ptr != null) _d.cuMemFreeHost(s.Ptr);
            s.Ptr = null;
            s.Capacity = 0;
            long capacity = Math.Max(bytes, 4096);
            void* p;
            _d.Check(_d.cuMemAllocHost(&p, (nuint)capacity), "cuMemAllocHost");
            s.Ptr = (byte*)p;
            s.Capacity = capacity;
        }
        src.CopyTo(new Span<byte>(s.Ptr, (int)bytes));
        _d.Check(_d.cuMemcpyHtoDAsync(dst, s.Ptr, (nuint)bytes, _stream), "cuMemcpyHtoDAsync");
        _d.Check(_d.cuEventRecord(s.Event, _stream), "cuEventRecord");
        s.Pending = true;
    }

    /// <inheritdoc/>
    public override void CopyToHost<T>(TensorView source, Span<T> destination)
    {
        CheckElement<T>(source, "source");
        if (source.Length != destination.Length)
            throw new ArgumentException($"copy to host: a view of {source.Length} elements into {destination.Length} host elements");
        long bytes = (long)destination.Length * sizeof(T);
        if (bytes == 0) return;
        ulong src = AnyP(source, "source");
        MakeCurrent();
        Sync();
        fixed (T* p = destination) _d.Check(_d.cuMemcpyDtoH(p, src, (nuint)bytes), "cuMemcpyDtoH");
    }

    private Staging NewStaging()
    {
        nint e;
        _d.Check(_d.cuEventCreate(&e, 2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate");
        var s = new Staging { Event = e };
        _stagings.Add(s);
        return s;
    }

    private void FreeStaging(Staging s)
    {
        MakeCurrent();
        if (s.Pending) _d.cuEventSynchronize(s.Event);
        if (s.Ptr != null) _d.cuMemFreeHost(s.Ptr);
        _d.cuEventDestroy(s.Event);
        s.Ptr = null;
        s.Capacity = 0;
        s.Pending = false;
        _stagings.Remove(s);
    }

    private static void CheckElement<T>(TensorView v, string name) where T : unmanaged
    {
        bool ok = v.Type switch
        {
            DType.Float32 => typeof(T) == typeof(float),
            DType.Int32 => typeof(T) == typeof(int),
            DType.BFloat16 => typeof(T) == typeof(ushort),
            _ => false,
        };
        if (!ok) throw new ArgumentException($"{name}: a {v.Type} tensor does not hold {typeof(T).Name} elements");
    }

    /// <inheritdoc/>
    public override void Copy(TensorView source, TensorView destination)
    {
        if (source.Type != destination.Type || source.Length != destination.Length)
            throw new ArgumentException($"copy: {source} into {destination} (type and length must agree)");
        long bytes = (long)source.Length * ElementSize(source.Type);
        if (bytes == 0) return;
        ulong s = AnyP(source, "source"), d = AnyP(destination, "destination");
        if (s == d) return;
        MakeCurrent();
        _d.Check(_d.cuMemcpyDtoDAsync(d, s, (nuint)bytes, _stream), "cuMemcpyDtoDAsync");
    }

    /// <inheritdoc/>
    public override void Zero(TensorView x)
    {
        if (x.Length == 0) return;
        ulong p = AnyP(x, "x");
        MakeCurrent();
        if (x.Type == DType.BFloat16) _d.Check(_d.cuMemsetD16Async(p, 0, (nuint)x.Length, _stream), "cuMemsetD16Async");
        else _d.Check(_d.cuMemsetD32Async(p, 0, (nuint)x.Length, _stream), "cuMemsetD32Async");
    }

    /// <inheritdoc/>
    public override void Synchronize()
    {
        MakeCurrent();
        Sync();
    }

    /// <summary>Bytes of device memory free and in total (cuMemGetInfo).</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        nuint free, total;
        _d.Check(_d.cuMemGetInfo(&free, &total), "cuMemGetInfo");
        return ((long)free, (long)total);
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        if (_disposed) return;
        Release();
    }

    /// <summary>Frees everything this device created, in reverse order, ignoring errors (also what a failing constructor
    /// created), and releases its hold on the primary context: when no other device holds it, the driver destroys it,
    /// and with it the memory of tensors still alive.</summary>
    private void Release()
    {
        _bf16A?.Dispose();
        _bf16B?.Dispose();
        (_bf16A, _bf16B) = (null, null);
        _disposed = true;
        if (!_retained) return;
        if (_d.cuCtxSetCurrent(_context) == 0) t_current = this;
        if (_stream != 0) _d.cuStreamSynchronize(_stream);
        foreach (var p in _pointerArrays.Values) _d.cuMemFree(p);
        _pointerArrays.Clear();
        foreach (var s in _stagings.ToList())
        {
            if (s.Ptr != null) _d.cuMemFreeHost(s.Ptr);
            _d.cuEventDestroy(s.Event);
        }
        _stagings.Clear();
        if (_scratch != 0) _d.cuMemFree(_scratch);
        if (_checks != 0) _d.cuMemFree(_checks);
        if (_partials != 0) _d.cuMemFree(_partials);
        if (_blasHandle != 0) _blas.cublasDestroy(_blasHandle);
        if (_module != 0) _d.cuModuleUnload(_module);
        if (_stream != 0) _d.cuStreamDestroy(_stream);
        _d.cuCtxSetCurrent(0);
        t_current = null;
        _d.cuDevicePrimaryCtxRelease(_device);
    }

    // ---- matrix products ----

    private static int BlasType(DType t) => t switch
    {
        DType.Float32 => Cublas.R32F,
        DType.BFloat16 => Cublas.R16BF,
        _ => throw new ArgumentException($"a GEMM operand must be Float32 or BFloat16, not {t}"),
    };

    // In bf16 precision, or when any operand is stored in bf16 (bf16 activations: a product in any precision), a
    // float32 A or B is cast (round to nearest even) into a bf16 scratch copy of the whole view, read with the same
    // leading dimension: products of bf16 values on tensor cores, float32 accumulation, as the CPU rounds a float32
    // operand beside a bf16 one. cuBLAS's GemmEx table has no mixed A/B types and no float32 A/B with a bf16 C, so this
    // is also what makes every combination a call cuBLAS takes (A = B = R16BF, C R16BF or R32F, compute 32F).
    private static bool Bf16Product(Precision precision, TensorView a, TensorView b, TensorView c) =>
        precision == Precision.Bf16 || a.Type == DType.BFloat16 || b.Type == DType.BFloat16 || c.Type == DType.BFloat16;

    private TensorView Bf16Operand(TensorView v, bool bf16, ref DeviceTensor? scratch)
    {
        if (!bf16 || v.Type != DType.Float32) return v;
        if (scratch is null || scratch.Length < v.Length) scratch = Reallocate(scratch, DType.BFloat16, Math.Max(v.Length, 1 << 16));
        var copy = scratch.Prefix(v.Length);
        Cast(v, copy);
        return copy;
    }

    // float32 compute; TF32 tensor-op compute for float32 operands in tf32 precision.
    private int ComputeType(TensorView a, TensorView b) =>
        _precision == Precision.Tf32 && a.Type == DType.Float32 && b.Type == DType.Float32 ? Cublas.Compute32FFastTf32 : Cublas.Compute32F;

    private static void CheckMatrix(TensorView v, bool trans, int rows, int cols, int ld, string name)
    {
        // op(X) is rows × cols; stored X is cols × rows when transposed (row-major, leading dimension ld).
        int storedRows = trans ? cols : rows, storedCols = trans ? rows : cols;
        if (storedRows == 0 || storedCols == 0) return;
        if (ld < storedCols) throw new ArgumentException($"{name}: leading dimension {ld} is less than {storedCols} columns");
        long need = (long)(storedRows - 1) * ld + storedCols;
        if (v.Length < need) throw new ArgumentException($"{name}: need {need} elements for {storedRows}x{storedCols} (ld {ld}), got {v.Length}");
    }

    /// <summary>C = alpha·op(A)·op(B) + beta·C by cuBLAS (row-major: Cᵀ = op(B)ᵀ·op(A)ᵀ in column-major), float32
    /// compute. A, B and C may each be Float32 or BFloat16: when any is BFloat16 (or the precision is bf16), a float32
    /// A or B is rounded to bfloat16 first and the product runs on bf16 inputs (tensor cores, float32 accumulation), C
    /// written in its own type.</summary>
    public override void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, TensorView a, int lda,
        TensorView b, int ldb, float beta, TensorView c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"gemm: negative size {m}x{n}x{k}");
        CheckMatrix(a, transA, m, k, lda, "a");
        CheckMatrix(b, transB, k, n, ldb, "b");
        CheckMatrix(c, false, m, n, ldc, "c");
        if (m == 0 || n == 0) return;
        MakeCurrent();
        bool bf16 = Bf16Product(_precision, a, b, c);
        (a, b) = (Bf16Operand(a, bf16, ref _bf16A), Bf16Operand(b, bf16, ref _bf16B));
        float al = alpha, be = beta;
        Cublas.Check(_blas.cublasGemmEx(_blasHandle, transB ? Cublas.OpT : Cublas.OpN, transA ? Cublas.OpT : Cublas.OpN, n, m, k,
            &al, (void*)AnyP(b, "b"), BlasType(b.Type), Math.Max(1, ldb), (void*)AnyP(a, "a"), BlasType(a.Type), Math.Max(1, lda),
            &be, (void*)AnyP(c, "c"), BlasType(c.Type), ldc, ComputeType(a, b), Cublas.GemmDefault), "cublasGemmEx");
        Launched("cublasGemmEx");
    }

    /// <inheritdoc/>
    public override void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        TensorView a, int lda, long strideAOuter, long strideAInner,
        TensorView b, int ldb, long strideBOuter, long strideBInner,
        float beta, TensorView c, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
    {
        if (m < 0 || n < 0 || k < 0 || outer < 0 || inner < 0)
            throw new ArgumentOutOfRangeException(nameof(m), $"batched gemm: negative size {m}x{n}x{k} x {outer}x{inner}");
        if (m == 0 || n == 0 || outer == 0 || inner == 0) return;
        void CheckLast(TensorView v, bool trans, int rows, int cols, int ld, long so, long si, string name)
        {
            int storedRows = trans ? cols : rows, storedCols = trans ? rows : cols;
            if (storedRows == 0 || storedCols == 0) return;
            long need = (outer - 1) * so + (inner - 1) * si + (long)(storedRows - 1) * ld + storedCols;
            if (v.Length < need) throw new ArgumentException($"{name}: the batch needs {need} elements, got {v.Length}");
        }
        CheckLast(a, transA, m, k, lda, strideAOuter, strideAInner, "a");
        CheckLast(b, transB, k, n, ldb, strideBOuter, strideBInner, "b");
        CheckLast(c, false, m, n, ldc, strideCOuter, strideCInner, "c");
        MakeCurrent();
        bool bf16 = Bf16Product(_precision, a, b, c);
        (a, b) = (Bf16Operand(a, bf16, ref _bf16A), Bf16Operand(b, bf16, ref _bf16B));
        int compute = ComputeType(a, b);
        float al = alpha, be = beta;
        int opA = transB ? Cublas.OpT : Cublas.OpN, opB = transA ? Cublas.OpT : Cublas.OpN;
        int ta = BlasType(a.Type), tb = BlasType(b.Type), tc = BlasType(c.Type);
        ulong pa = AnyP(a, "a"), pb = AnyP(b, "b"), pc = AnyP(c, "c");
        int ea = ElementSize(a.Type), eb = ElementSize(b.Type), ec = ElementSize(c.Type);
        bool collapses = outer == 1 || (strideAOuter == strideAInner * inner && strideBOuter == strideBInner * inner && strideCOuter == strideCInner * inner);
        if (collapses)
        {
            Cublas.Check(_blas.cublasGemmStridedBatchedEx(_blasHandle, opA, opB, n, m, k, &al,
                (void*)pb, tb, Math.Max(1, ldb), strideBInner, (void*)pa, ta, Math.Max(1, lda), strideAInner,
                &be, (void*)pc, tc, ldc, strideCInner, outer * inner, compute, Cublas.GemmDefault), "cublasGemmStridedBatchedEx");
            Launched("cublasGemmStridedBatchedEx");
            return;
        }
        // Attention's layout (head h at column h·D of [B, T, 3H]): one batched call over device arrays of the B·NH
        // matrix pointers, built once per (buffers, strides, shape) and kept.
        var key = (pa, pb, pc, strideAOuter, strideAInner, strideBOuter, strideBInner, strideCOuter, strideCInner, outer, inner);
        if (!_pointerArrays.TryGetValue(key, out ulong arrays))
        {
            if (_pointerArrays.Count >= 256)
            {
                Sync();
                foreach (var p in _pointerArrays.Values) _d.cuMemFree(p);
                _pointerArrays.Clear();
            }
            int count = outer * inner;
            var host = new ulong[3 * count];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int j = o * inner + i;
                    host[j] = pa + (ulong)((o * strideAOuter + i * strideAInner) * ea);
                    host[count + j] = pb + (ulong)((o * strideBOuter + i * strideBInner) * eb);
                    host[2 * count + j] = pc + (ulong)((o * strideCOuter + i * strideCInner) * ec);
                }
            _d.Check(_d.cuMemAlloc(&arrays, (nuint)(host.Length * 8)), "cuMemAlloc");
            Sync();
            fixed (ulong* h = host) _d.Check(_d.cuMemcpyHtoD(arrays, h, (nuint)(host.Length * 8)), "cuMemcpyHtoD");
            _pointerArrays[key] = arrays;
        }
        int n2 = outer * inner;
        Cublas.Check(_blas.cublasGemmBatchedEx(_blasHandle, opA, opB, n, m, k, &al,
            (void*)(arrays + (ulong)n2 * 8), tb, Math.Max(1, ldb), (void*)arrays, ta, Math.Max(1, lda),
            &be, (void*)(arrays + (ulong)n2 * 16), tc, ldc, n2, compute, Cublas.GemmDefault), "cublasGemmBatchedEx");
        Launched("cublasGemmBatchedEx");
    }

    // ---- element-wise and row-wise kernels ----

    /// <inheritdoc/>
    public override void BiasAdd(TensorView y, int rows, int cols, TensorView bias)
    {
        long n = (long)rows * cols;
        bool bf = Bf16Activations("bias add", y);
        Run(bf ? "bs_bias_add_bf16" : "bs_bias_add", LaunchGeometry.Elementwise(n), X(y, "y", bf, n), F(bias, "bias", cols), A((long)rows), A(cols));
    }

    /// <inheritdoc/>
    public override void BiasBackward(TensorView dy, int rows, int cols, TensorView dbias)
    {
        bool bf = Bf16Activations("bias backward", dy);
        ColumnSums(bf, X(dy, "dy", bf, (long)rows * cols), 0, 0, 0, rows, cols, 0, F(dbias, "dbias", cols));
    }

    /// <summary>outB[c] += Σr dy[r, c] and, with <paramref name="x"/>, outG[c] += Σr dy·x̂: the two-pass column
    /// reduction (bs_column_partials over row chunks into scratch, then bs_column_finish adding the chunks in order);
    /// dy and x are BFloat16 when <paramref name="bf"/>.</summary>
    private void ColumnSums(bool bf, ulong dy, ulong x, ulong mean, ulong rstd, int rows, int cols, ulong outG, ulong outB)
    {
        if (rows == 0 || cols == 0) return;
        int chunks = LaunchGeometry.ColumnChunks(rows);
        long per = (long)chunks * cols;
        ulong scratch = Scratch(per * sizeof(float) * (x != 0 ? 2 : 1));
        ulong partialB = scratch, partialG = x != 0 ? scratch + (ulong)(per * sizeof(float)) : 0;
        Run(bf ? "bs_column_partials_bf16" : "bs_column_partials", LaunchGeometry.ColumnPartials(rows, cols), dy, x, mean, rstd, A(rows), A(cols),
            A(LaunchGeometry.ColumnChunkRows(rows)), partialG, partialB);
        Run("bs_column_finish", LaunchGeometry.Elementwise(cols), partialG, partialB, A(chunks), A(cols), outG, outB);
    }

    /// <inheritdoc/>
    public override void Gelu(TensorView x, TensorView y, bool tanhApproximation)
    {
        Same(y.Length, x.Length, "y", "x");
        bool bf = Bf16Activations("gelu", x, y);
        string kernel = tanhApproximation ? bf ? "bs_gelu_tanh_bf16" : "bs_gelu_tanh" : bf ? "bs_gelu_bf16" : "bs_gelu";
        Run(kernel, LaunchGeometry.Elementwise(x.Length), X(x, "x", bf), X(y, "y", bf), A((long)x.Length));
    }

    /// <inheritdoc/>
    public override void GeluBackward(TensorView x, TensorView dy, TensorView dx, bool tanhApproximation)
    {
        Same(dy.Length, x.Length, "dy", "x");
        Same(dx.Length, x.Length, "dx", "x");
        bool bf = Bf16Activations("gelu backward", x, dy, dx);
        string kernel = tanhApproximation ? bf ? "bs_gelu_tanh_backward_bf16" : "bs_gelu_tanh_backward"
            : bf ? "bs_gelu_backward_bf16" : "bs_gelu_backward";
        Run(kernel, LaunchGeometry.Elementwise(x.Length), X(x, "x", bf), X(dy, "dy", bf), X(dx, "dx", bf), A((long)x.Length));
    }

    /// <inheritdoc/>
    public override void Tanh(TensorView x, TensorView y)
    {
        Same(y.Length, x.Length, "y", "x");
        bool bf = Bf16Activations("tanh", x, y);
        Run(bf ? "bs_tanh_bf16" : "bs_tanh", LaunchGeometry.Elementwise(x.Length), X(x, "x", bf), X(y, "y", bf), A((long)x.Length));
    }

    /// <inheritdoc/>
    public override void TanhBackward(TensorView y, TensorView dy, TensorView dx)
    {
        Same(dy.Length, y.Length, "dy", "y");
        Same(dx.Length, y.Length, "dx", "y");
        bool bf = Bf16Activations("tanh backward", y, dy, dx);
        Run(bf ? "bs_tanh_backward_bf16" : "bs_tanh_backward", LaunchGeometry.Elementwise(y.Length), X(y, "y", bf), X(dy, "dy", bf), X(dx, "dx", bf),
            A((long)y.Length));
    }

    /// <inheritdoc/>
    public override void Add(TensorView y, TensorView x)
    {
        Same(x.Length, y.Length, "x", "y");
        bool bf = Bf16Activations("add", y, x);
        Run(bf ? "bs_add_bf16" : "bs_add", LaunchGeometry.Elementwise(y.Length), X(y, "y", bf), X(x, "x", bf), A((long)y.Length));
    }

    /// <inheritdoc/>
    public override void LayerNormForward(TensorView x, int rows, int cols, TensorView gamma, TensorView beta, float eps,
        TensorView y, TensorView mean, TensorView rstd)
    {
        long n = (long)rows * cols;
        bool bf = Bf16Activations("layer norm", x, y);
        Run(bf ? "bs_layernorm_forward_bf16" : "bs_layernorm_forward", LaunchGeometry.Rows(rows, cols), X(x, "x", bf, n), F(gamma, "gamma", cols),
            F(beta, "beta", cols), A(eps), A(cols), X(y, "y", bf, n), F(mean, "mean", rows), F(rstd, "rstd", rows));
    }

    /// <inheritdoc/>
    public override void LayerNormBackward(TensorView dy, TensorView x, TensorView mean, TensorView rstd, TensorView gamma,
        int rows, int cols, TensorView dx, TensorView dgamma, TensorView dbeta)
    {
        long n = (long)rows * cols;
        bool bf = Bf16Activations("layer norm backward", dy, x, dx);
        ulong pdy = X(dy, "dy", bf, n), px = X(x, "x", bf, n), pm = F(mean, "mean", rows), pr = F(rstd, "rstd", rows);
        if (rows == 0 || cols == 0) return;
        // Parameter gradients first, so dx may alias dy.
        ColumnSums(bf, pdy, px, pm, pr, rows, cols, F(dgamma, "dgamma", cols), F(dbeta, "dbeta", cols));
        Run(bf ? "bs_layernorm_backward_dx_bf16" : "bs_layernorm_backward_dx", LaunchGeometry.Rows(rows, cols), pdy, px, pm, pr,
            F(gamma, "gamma", cols), A(cols), X(dx, "dx", bf, n));
    }

    /// <inheritdoc/>
    public override void SoftmaxForward(TensorView x, TensorView y, int batch, int rowsPerBatch, int cols, float scale, TensorView mask)
    {
        long n = (long)batch * rowsPerBatch * cols;
        ulong pm = mask.Tensor is null || mask.IsEmpty ? 0 : F(mask, "mask", (long)batch * cols);
        bool bf = Bf16Activations("softmax", x, y);
        Run(bf ? "bs_softmax_forward_bf16" : "bs_softmax_forward", LaunchGeometry.Rows(checked(batch * rowsPerBatch), cols), X(x, "x", bf, n),
            X(y, "y", bf, n), A(Math.Max(1, rowsPerBatch)), A(cols), A(scale), pm);
    }

    /// <inheritdoc/>
    public override void SoftmaxBackward(TensorView y, TensorView dy, TensorView dx, int rows, int cols, float scale)
    {
        long n = (long)rows * cols;
        bool bf = Bf16Activations("softmax backward", y, dy, dx);
        Run(bf ? "bs_softmax_backward_bf16" : "bs_softmax_backward", LaunchGeometry.Rows(rows, cols), X(y, "y", bf, n), X(dy, "dy", bf, n),
            X(dx, "dx", bf, n), A(cols), A(scale));
    }

    /// <inheritdoc/>
    public override void DropoutForward(TensorView x, TensorView y, float p, ulong seed, ulong step, uint site, long offset = 0)
        => Dropout(x, y, p, seed, step, site, offset, "x", "y");

    /// <inheritdoc/>
    public override void DropoutBackward(TensorView dy, TensorView dx, float p, ulong seed, ulong step, uint site, long offset = 0)
        => Dropout(dy, dx, p, seed, step, site, offset, "dy", "dx");

    private void Dropout(TensorView x, TensorView y, float p, ulong seed, ulong step, uint site, long offset, string xn, string yn)
    {
        Same(y.Length, x.Length, yn, xn);
        bool bf = Bf16Activations(xn == "x" ? "dropout" : "dropout backward", x, y);
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, $"p: dropout probability must be in [0, 1], got {p}");
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), offset, "offset must be non-negative");
        if (p == 0f)
        {
            Copy(x, y);
            return;
        }
        float scale = p == 1f ? 0f : 1f / (1f - p);
        Run(bf ? "bs_dropout_bf16" : "bs_dropout", LaunchGeometry.Dropout(x.Length, offset), X(x, xn, bf), X(y, yn, bf), A((long)x.Length), A(offset), A(p), A(scale),
            A((int)site), A((int)(uint)step), A((int)(uint)(step >> 32)), A((int)(uint)seed), A((int)(uint)(seed >> 32)));
    }

    /// <inheritdoc/>
    public override void EmbeddingForward(TensorView ids, TensorView table, int dim, TensorView output, bool accumulate)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dim must be positive, got {dim}");
        long n = (long)ids.Length * dim;
        int rows = table.Length / dim;
        bool bf = Bf16Activations("embedding", output);
        bool gather = GatherTable(table, bf, "table", "output");
        ulong pi = I(ids, "ids"), pt = X(table, "table", gather), po = X(output, "output", bf, n);
        if (n == 0) return;
        Run(gather ? "bs_embedding_gather_bf16" : bf ? "bs_embedding_forward_bf16" : "bs_embedding_forward", LaunchGeometry.Elementwise(n), pi, pt, A(dim), po, A((long)ids.Length), A(accumulate ? 1 : 0),
            A(rows), CheckSlot("bs_embedding_forward", false, rows));
    }

    /// <inheritdoc/>
    public override void EmbeddingBackward(TensorView ids, TensorView doutput, int dim, TensorView dtable)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dim must be positive, got {dim}");
        long count = ids.Length;
        bool bf = Bf16Activations("embedding backward", doutput);
        bool scatter = GatherTable(dtable, bf, "dtable", "doutput");
        ulong pi = I(ids, "ids"), pd = X(doutput, "doutput", bf, count * dim), pt = X(dtable, "dtable", scatter, dim);
        if (count == 0) return;
        int rows = dtable.Length / dim, chunk = LaunchGeometry.EmbeddingChunk(count);
        if (scatter)
        {
            // bf16 rows: each add rounded in position order (the CPU's ScatterAdd), so no chunk sums; the flags mark
            // each id's first position. Scratch: the flags and links [count] each.
            ulong f = Scratch(2 * count * sizeof(int)), nx = f + (ulong)(count * sizeof(int));
            Run("bs_embedding_links", LaunchGeometry.EmbeddingLinks(count), pi, A(count), A(chunk), f, nx);
            Run("bs_embedding_scatter_rows_bf16", LaunchGeometry.EmbeddingRows(count, dim), pi, pd, A(count), A(dim), f, pt, A(rows),
                CheckSlot("bs_embedding_scatter_rows_bf16", false, rows));
            return;
        }
        // Scratch: the chunk sums [count, dim], then the flags and links [count] each.
        ulong partial = Scratch(count * dim * sizeof(float) + 2 * count * sizeof(int));
        ulong flags = partial + (ulong)(count * dim * sizeof(float)), next = flags + (ulong)(count * sizeof(int));
        Run("bs_embedding_links", LaunchGeometry.EmbeddingLinks(count), pi, A(count), A(chunk), flags, next);
        var g = LaunchGeometry.EmbeddingRows(count, dim);
        Run(bf ? "bs_embedding_chunk_sums_bf16" : "bs_embedding_chunk_sums", g, pi, pd, A(count), A(dim), A(chunk), flags, partial);
        Run("bs_embedding_scatter", g, pi, A(dim), flags, next, partial, pt, A(rows), CheckSlot("bs_embedding_scatter", false, rows));
    }

    // The model also gathers activation rows with EmbeddingForward (the [CLS] rows, the masked positions) and scatters
    // their gradients back with EmbeddingBackward: then the table is an activation, BFloat16 when the rows are. A
    // Float32 table (a parameter, its gradient) goes with either; a BFloat16 one only with BFloat16 rows. Into a
    // BFloat16 table every add is rounded, in position order, as on the CPU.
    private static bool GatherTable(TensorView table, bool bf16Rows, string name, string rows)
    {
        if (table.Tensor is null || table.Type != DType.BFloat16) return false;
        if (!bf16Rows) throw new ArgumentException($"{name}: a BFloat16 table goes only with BFloat16 {rows}, got Float32");
        return true;
    }

    /// <inheritdoc/>
    public override void CrossEntropyForward(TensorView logits, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax)
        => CrossEntropy(logits, 0, rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);

    private void CrossEntropy(TensorView logits, ulong bias, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax)
    {
        ulong pa = argmax.Tensor is null || argmax.IsEmpty ? 0 : I(argmax, "argmax", rows);
        bool bf = Bf16Activations(bias == 0 ? "cross-entropy" : "bias cross-entropy", logits);
        ulong pl = X(logits, "logits", bf, (long)rows * cols), pt = I(targets, "targets", rows), ploss = F(losses, "losses", rows), plse = F(logSumExp, "logSumExp", rows);
        if (rows == 0 || cols == 0) return;
        Run(bf ? "bs_cross_entropy_forward_bf16" : "bs_cross_entropy_forward", LaunchGeometry.Rows(rows, cols), pl, bias, A(cols), pt, A(ignoreIndex), ploss, plse, pa,
            CheckSlot("bs_cross_entropy_forward", true, cols, ignoreIndex));
    }

    /// <inheritdoc/>
    public override void CrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dlogits)
    {
        long n = (long)rows * cols;
        bool bf = Bf16Activations("cross-entropy backward", logits, dlogits);
        ulong pl = X(logits, "logits", bf, n), plse = F(logSumExp, "logSumExp", rows), pt = I(targets, "targets", rows), pd = X(dlogits, "dlogits", bf, n);
        if (rows == 0 || cols == 0) return;
        Run(bf ? "bs_cross_entropy_backward_bf16" : "bs_cross_entropy_backward", LaunchGeometry.Rows(rows, cols), pl, plse, pt, A(ignoreIndex), A(cols), A(scale), pd,
            CheckSlot("bs_cross_entropy_backward", true, cols, ignoreIndex));
    }

    /// <inheritdoc/>
    public override void BiasCrossEntropyForward(TensorView logits, TensorView bias, int rows, int cols, TensorView targets,
        int ignoreIndex, TensorView losses, TensorView logSumExp, TensorView argmax)
        => CrossEntropy(logits, F(bias, "bias", cols), rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);

    /// <inheritdoc/>
    public override void BiasCrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dbias, TensorView scratch)
    {
        if (!Bf16Activations("bias cross-entropy backward", logits))
        {
            // float32: the gradients stored in place are exactly what dbias sums.
            CrossEntropyBackward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, logits);
            BiasBackward(logits, rows, cols, dbias);
            return;
        }
        // bf16: dbias sums the float32 gradients, not their rounded stores, so its column partials recompute them from
        // the logits before the in-place backward overwrites them (stream order).
        long n = (long)rows * cols;
        ulong pl = X(logits, "logits", true, n), plse = F(logSumExp, "logSumExp", rows), pt = I(targets, "targets", rows), pb = F(dbias, "dbias", cols);
        if (rows == 0 || cols == 0) return;
        int chunks = LaunchGeometry.ColumnChunks(rows);
        ulong partialB = Scratch((long)chunks * cols * sizeof(float));
        Run("bs_cross_entropy_bias_partials_bf16", LaunchGeometry.ColumnPartials(rows, cols), pl, plse, pt, A(ignoreIndex), A(scale), A(rows), A(cols),
            A(LaunchGeometry.ColumnChunkRows(rows)), partialB);
        Run("bs_column_finish", LaunchGeometry.Elementwise(cols), 0, partialB, A(chunks), A(cols), 0, pb);
        CrossEntropyBackward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, logits);
    }

    /// <summary>None: the column sums are reduced in a fixed order without scratch.</summary>
    public override int BiasCrossEntropyScratch(int rows, int cols) => 0;

    // ---- distillation losses ----

    private static void CheckLossShape(int rows, int cols)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be non-negative, got {rows}");
        if (cols <= 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, $"cols must be positive, got {cols}");
    }

    private static void CheckTemperature(float temperature)
    {
        if (!(temperature > 0f && float.IsFinite(temperature)))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, $"temperature must be positive and finite, got {temperature}");
    }

    /// <inheritdoc/>
    public override void SoftTargetForward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        TensorView losses)
    {
        CheckLossShape(rows, cols);
        CheckTemperature(temperature);
        long n = (long)rows * cols;
        ulong ps = F(student, "student", n), pt = F(teacher, "teacher", n), pw = F(weights, "weights", rows), pl = F(losses, "losses", rows);
        Run("bs_soft_target_forward", LaunchGeometry.Rows(rows, cols), ps, pt, pw, A(cols), A(temperature), pl);
    }

    /// <inheritdoc/>
    public override void SoftTargetBackward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        float scale, TensorView dstudent, bool accumulate)
    {
        CheckLossShape(rows, cols);
        CheckTemperature(temperature);
        long n = (long)rows * cols;
        ulong ps = F(student, "student", n), pt = F(teacher, "teacher", n), pw = F(weights, "weights", rows), pd = F(dstudent, "dstudent", n);
        ulong bytes = (ulong)n * sizeof(float);
        if (n > 0 && ((pd < ps + bytes && ps < pd + bytes) || (pd < pt + bytes && pt < pd + bytes)))
            throw new ArgumentException("dstudent: must not overlap student or teacher", nameof(dstudent));
        Run("bs_soft_target_backward", LaunchGeometry.Rows(rows, cols), ps, pt, pw, A(cols), A(temperature), A(scale), pd, A(accumulate ? 1 : 0));
    }

    /// <inheritdoc/>
    public override void CosineForward(TensorView a, TensorView b, TensorView weights, int rows, int cols, TensorView losses)
    {
        CheckLossShape(rows, cols);
        long n = (long)rows * cols;
        bool bf = Bf16Activations("cosine loss", a, b);
        Run(bf ? "bs_cosine_forward_bf16" : "bs_cosine_forward", LaunchGeometry.Rows(rows, cols), X(a, "a", bf, n), X(b, "b", bf, n),
            F(weights, "weights", rows), A(cols), F(losses, "losses", rows));
    }

    /// <inheritdoc/>
    public override void CosineBackward(TensorView a, TensorView b, TensorView weights, int rows, int cols, float scale, TensorView da,
        bool accumulate)
    {
        CheckLossShape(rows, cols);
        long n = (long)rows * cols;
        bool bf = Bf16Activations("cosine loss backward", a, b, da);
        Run(bf ? "bs_cosine_backward_bf16" : "bs_cosine_backward", LaunchGeometry.Rows(rows, cols), X(a, "a", bf, n), X(b, "b", bf, n),
            F(weights, "weights", rows), A(cols), A(scale), X(da, "da", bf, n), A(accumulate ? 1 : 0));
    }

    // ---- optimiser and reductions ----

    /// <inheritdoc/>
    public override void AdamWStep(TensorView param, TensorView grad, TensorView m, TensorView v, in AdamWParams hp)
    {
        Same(grad.Length, param.Length, "grad", "param");
        Same(m.Length, param.Length, "m", "param");
        Same(v.Length, param.Length, "v", "param");
        if (hp.Step < 1) throw new ArgumentOutOfRangeException(nameof(hp), hp.Step, $"hp.Step must be >= 1 (1-based), got {hp.Step}");
        double bc1 = 1 - Math.Pow(hp.Beta1, hp.Step);
        double bc2 = 1 - Math.Pow(hp.Beta2, hp.Step);
        float decay = (float)(1 - (double)hp.LearningRate * hp.WeightDecay);
        float stepSize = (float)(hp.LearningRate / bc1), invSqrtBc2 = (float)(1 / Math.Sqrt(bc2));
        Run("bs_adamw", LaunchGeometry.Elementwise(param.Length), F(param, "param"), F(grad, "grad"), F(m, "m"), F(v, "v"), A((long)param.Length),
            A(decay), A(1f - hp.Beta1), A(hp.Beta2), A(1f - hp.Beta2), A(stepSize), A(invSqrtBc2), A(hp.Epsilon), A(hp.GradScale));
    }

    /// <inheritdoc/>
    public override double SumOfSquares(TensorView x)
    {
        ulong px = F(x, "x");
        if (x.Length == 0) return 0;
        var g = LaunchGeometry.SumOfSquares(x.Length);
        Run("bs_sum_squares_partial", g, px, A((long)x.Length), _partials);
        ulong result = _partials + (ulong)LaunchGeometry.SumOfSquaresBlocks * sizeof(double);
        Run("bs_sum_partials", new Launch(1, 1, LaunchGeometry.Block, 1), _partials, A((int)g.GridX), result);
        double value;
        Sync();
        _d.Check(_d.cuMemcpyDtoH(&value, result, sizeof(double)), "cuMemcpyDtoH");
        return value;
    }

    // ---- the model's index and bookkeeping kernels ----

    /// <inheritdoc/>
    public override void AttentionMask(TensorView mask, TensorView additive, float maskValue)
    {
        Same(additive.Length, mask.Length, "additive", "mask");
        Run("bs_attention_mask", LaunchGeometry.Elementwise(mask.Length), I(mask, "mask"), F(additive, "additive"), A(maskValue), A((long)mask.Length));
    }

    /// <inheritdoc/>
    public override void Iota(TensorView output, int period, int stride)
    {
        if (period < 1) throw new ArgumentOutOfRangeException(nameof(period), period, "period must be >= 1");
        Run("bs_iota", LaunchGeometry.Elementwise(output.Length), I(output, "output"), A(period), A(stride), A((long)output.Length));
    }

    /// <inheritdoc/>
    public override void MaskedLmTargets(TensorView positions, TensorView ids, TensorView weights, int predictionsPerRow,
        int seqLength, int ignoreIndex, TensorView rows, TensorView targets)
    {
        int m = positions.Length;
        Same(ids.Length, m, "ids", "positions");
        Same(weights.Length, m, "weights", "positions");
        Same(rows.Length, m, "rows", "positions");
        Same(targets.Length, m, "targets", "positions");
        if (predictionsPerRow < 1) throw new ArgumentOutOfRangeException(nameof(predictionsPerRow), predictionsPerRow, "must be >= 1");
        Run("bs_masked_lm_targets", LaunchGeometry.Elementwise(m), I(positions, "positions"), I(ids, "ids"), F(weights, "weights"),
            A(predictionsPerRow), A(seqLength), A(ignoreIndex), I(rows, "rows"), I(targets, "targets"), A((long)m));
    }

    /// <inheritdoc/>
    public override void LossStatistics(TensorView losses, TensorView argmax, TensorView targets, int ignoreIndex, TensorView stats)
    {
        Same(argmax.Length, losses.Length, "argmax", "losses");
        Same(targets.Length, losses.Length, "targets", "losses");
        if (stats.Length != 3) throw new ArgumentException($"stats: need 3 floats, got {stats.Length}");
        Run("bs_loss_statistics", new Launch(1, 1, LaunchGeometry.Block, 1), F(losses, "losses"), I(argmax, "argmax"), I(targets, "targets"),
            A(ignoreIndex), A((long)losses.Length), F(stats, "stats"));
    }

    // ---- bfloat16 ----

    /// <inheritdoc/>
    public override void Cast(TensorView source, TensorView destination)
    {
        if (source.Type != destination.Type) Same(destination.Length, source.Length, "destination", "source");
        switch (source.Type, destination.Type)
        {
            case (DType.Float32, DType.BFloat16): // round to nearest even, as BFloat16.FromSingle
                Run("bs_f32_to_bf16", LaunchGeometry.Elementwise(source.Length), F(source, "source"), P(destination, "destination", DType.BFloat16), A((long)source.Length));
                break;
            case (DType.BFloat16, DType.Float32): // exact
                Run("bs_bf16_to_f32", LaunchGeometry.Elementwise(source.Length), P(source, "source", DType.BFloat16), F(destination, "destination"), A((long)source.Length));
                break;
            case var (s, d) when s == d: Copy(source, destination); break;
            default: throw new ArgumentException($"cast: {source.Type} to {destination.Type} (Float32 and BFloat16 only)");
        }
    }
}
