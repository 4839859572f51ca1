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
    private readonly CudaDriver _d;
    private readonly Cublas _blas;
    private readonly int _device;
    private readonly nint _context, _stream, _module, _blasHandle;
    private readonly Dictionary<string, nint> _functions = new(StringComparer.Ordinal);
    private readonly ulong _partials; // SumOfSquaresBlocks + 1 doubles
    private readonly Staging[] _staging = [new(), new()];
    private int _nextStaging;
    private readonly Dictionary<(ulong, ulong, ulong, long, long, long, long, long, long, int, int), ulong> _pointerArrays = [];
    private bool _disposed;

    [ThreadStatic] private static nint t_current;

    /// <summary>The GPU this device runs on.</summary>
    public CudaDeviceInfo Info { get; }

    /// <summary>Where the module came from: "compiled in N ms" or "cache".</summary>
    public string ModuleSource { get; }

    /// <inheritdoc/>
    public override string Name => $"cuda:{Info.Ordinal}";

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
        int dev;
        _d.Check(_d.cuDeviceGet(&dev, info.Ordinal), "cuDeviceGet");
        _device = dev;
        nint ctx;
        _d.Check(_d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
        _context = ctx;
        MakeCurrent();
        nint stream;
        _d.Check(_d.cuStreamCreate(&stream, 0), "cuStreamCreate");
        _stream = stream;

        var (image, source) = LoadImage(nvrtc, info, driverVersion);
        ModuleSource = source;
        nint module;
        fixed (byte* p = image) _d.Check(_d.cuModuleLoadData(&module, p), "cuModuleLoadData");
        _module = module;

        nint h;
        Cublas.Check(_blas.cublasCreate(&h), "cublasCreate");
        _blasHandle = h;
        Cublas.Check(_blas.cublasSetStream(h, _stream), "cublasSetStream");
        Cublas.Check(_blas.cublasSetMathMode(h, Cublas.DefaultMath), "cublasSetMathMode"); // no TF32

        ulong partials;
        _d.Check(_d.cuMemAlloc(&partials, (nuint)((LaunchGeometry.SumOfSquaresBlocks + 1) * sizeof(double))), "cuMemAlloc");
        _partials = partials;
        foreach (var s in _staging)
        {
            nint e;
            _d.Check(_d.cuEventCreate(&e, 2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate");
            s.Event = e;
        }
    }

    /// <summary>Opens GPU <paramref name="ordinal"/>; throws <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>)
    /// when CUDA is not usable or there is no such GPU.</summary>
    public static CudaDevice Open(int ordinal = 0)
    {
        var info = CudaInfo.Probe();
        if (!info.IsUsable) throw new BertSharpException($"--device cuda:{ordinal}: {info.Reason}", ErrorKind.Usage);
        if (ordinal < 0 || ordinal >= info.Devices.Count)
            throw new BertSharpException($"--device cuda:{ordinal}: this machine has {info.Devices.Count} CUDA GPU(s) (cuda:0..cuda:{info.Devices.Count - 1})", ErrorKind.Usage);
        var driver = CudaDriver.TryGet(out _)!;
        var nvrtc = CudaLibrariesLoaded.TryNvrtc(out _)!;
        var blas = CudaLibrariesLoaded.TryCublas(out _)!;
        int version;
        driver.cuDriverGetVersion(&version);
        return new CudaDevice(driver, blas, nvrtc, info.Devices[ordinal], version);
    }

    private static (byte[] Image, string Source) LoadImage(Nvrtc nvrtc, CudaDeviceInfo info, int driverVersion)
    {
        string source = KernelSources.Module();
        var (ma, mi) = nvrtc.Version();
        string folder = KernelSources.CacheFolder(Environment.GetEnvironmentVariable);
        foreach (bool ptx in new[] { false, true })
        {
            var options = KernelSources.Options(info.Major, info.Minor, ptx);
            string key = KernelSources.CacheKey(source, info.Architecture, driverVersion, $"{ma}.{mi}", options);
            string file = KernelSources.CacheFile(folder, key, ptx);
            try
            {
                if (File.Exists(file)) return (File.ReadAllBytes(file), "cache " + file);
            }
            catch (IOException) { }
            byte[] image;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                image = nvrtc.Compile(source, "bertsharp_kernels.cu", options, ptx);
            }
            catch (CudaException) when (!ptx)
            {
                continue; // an NVRTC older than the GPU: try PTX for the driver to compile
            }
            if (ptx && (image.Length == 0 || image[^1] != 0)) image = [.. image, 0];
            try
            {
                Directory.CreateDirectory(folder);
                string tmp = file + "." + Environment.ProcessId + ".tmp";
                File.WriteAllBytes(tmp, image);
                File.Move(tmp, file, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            return (image, $"compiled by NVRTC {ma}.{mi} in {sw.ElapsedMilliseconds} ms ({options[0]})");
        }
        throw new CudaException($"NVRTC {ma}.{mi} could not compile the kernels for {info.Architecture}");
    }

    private void MakeCurrent()
    {
        if (t_current == _context) return;
        _d.Check(_d.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        t_current = _context;
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
    }

    private static ulong A(float f) => BitConverter.SingleToUInt32Bits(f);
    private static ulong A(int i) => (uint)i;
    private static ulong A(long l) => (ulong)l;

    // ---- tensors and views ----

    private sealed class CudaTensor : DeviceTensor
    {
        private readonly CudaDevice _owner;
        public ulong Ptr;

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
            if (Ptr == 0 || _owner._disposed) return;
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
        if (bytes > 64L << 20)
        {
            // Large (parameters, checkpoints): a synchronous copy from the caller's memory, ordered after the stream.
            _d.Check(_d.cuStreamSynchronize(_stream), "cuStreamSynchronize");
            fixed (byte* p = src) _d.Check(_d.cuMemcpyHtoD(dst, p, (nuint)bytes), "cuMemcpyHtoD");
            return;
        }
        // Small (a batch): into a pinned staging buffer, then an asynchronous copy; the buffer is reused only after
        // the stream has passed that copy (two buffers in turn).
        var s = _staging[_nextStaging];
        _nextStaging ^= 1;
        if (s.Pending) _d.Check(_d.cuEventSynchronize(s.Event), "cuEventSynchronize");
        s.Pending = false;
        if (s.Capacity < bytes)
        {
            if (s.Ptr != null) _d.cuMemFreeHost(s.Ptr);
            long capacity = Math.Max(bytes, 1 << 20);
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
        _d.Check(_d.cuStreamSynchronize(_stream), "cuStreamSynchronize");
        fixed (T* p = destination) _d.Check(_d.cuMemcpyDtoH(p, src, (nuint)bytes), "cuMemcpyDtoH");
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
        _d.Check(_d.cuStreamSynchronize(_stream), "cuStreamSynchronize");
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
        MakeCurrent();
        _d.cuStreamSynchronize(_stream);
        foreach (var p in _pointerArrays.Values) _d.cuMemFree(p);
        _pointerArrays.Clear();
        foreach (var s in _staging)
        {
            if (s.Ptr != null) _d.cuMemFreeHost(s.Ptr);
            _d.cuEventDestroy(s.Event);
        }
        _d.cuMemFree(_partials);
        _blas.cublasDestroy(_blasHandle);
        _d.cuModuleUnload(_module);
        _d.cuStreamDestroy(_stream);
        // Tensors still alive are freed with the primary context when the process ends.
        _disposed = true;
    }

    // ---- matrix products ----

    private static int BlasType(DType t) => t switch
    {
        DType.Float32 => Cublas.R32F,
        DType.BFloat16 => Cublas.R16BF,
        _ => throw new ArgumentException($"a GEMM operand must be Float32 or BFloat16, not {t}"),
    };

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
    /// compute; A and B may also be BFloat16 (tensor cores, float32 accumulation), C Float32 or BFloat16.</summary>
    public override void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, TensorView a, int lda,
        TensorView b, int ldb, float beta, TensorView c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"gemm: negative size {m}x{n}x{k}");
        CheckMatrix(a, transA, m, k, lda, "a");
        CheckMatrix(b, transB, k, n, ldb, "b");
        CheckMatrix(c, false, m, n, ldc, "c");
        if (m == 0 || n == 0) return;
        MakeCurrent();
        float al = alpha, be = beta;
        Cublas.Check(_blas.cublasGemmEx(_blasHandle, transB ? Cublas.OpT : Cublas.OpN, transA ? Cublas.OpT : Cublas.OpN, n, m, k,
            &al, (void*)AnyP(b, "b"), BlasType(b.Type), Math.Max(1, ldb), (void*)AnyP(a, "a"), BlasType(a.Type), Math.Max(1, lda),
            &be, (void*)AnyP(c, "c"), BlasType(c.Type), ldc, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
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
                &be, (void*)pc, tc, ldc, strideCInner, outer * inner, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmStridedBatchedEx");
            return;
        }
        // Attention's layout (head h at column h·D of [B, T, 3H]): one batched call over device arrays of the B·NH
        // matrix pointers, built once per (buffers, strides, shape) and kept.
        var key = (pa, pb, pc, strideAOuter, strideAInner, strideBOuter, strideBInner, strideCOuter, strideCInner, outer, inner);
        if (!_pointerArrays.TryGetValue(key, out ulong arrays))
        {
            if (_pointerArrays.Count >= 256)
            {
                _d.Check(_d.cuStreamSynchronize(_stream), "cuStreamSynchronize");
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
            _d.Check(_d.cuStreamSynchronize(_stream), "cuStreamSynchronize");
            fixed (ulong* h = host) _d.Check(_d.cuMemcpyHtoD(arrays, h, (nuint)(host.Length * 8)), "cuMemcpyHtoD");
            _pointerArrays[key] = arrays;
        }
        int n2 = outer * inner;
        Cublas.Check(_blas.cublasGemmBatchedEx(_blasHandle, opA, opB, n, m, k, &al,
            (void*)(arrays + (ulong)n2 * 8), tb, Math.Max(1, ldb), (void*)arrays, ta, Math.Max(1, lda),
            &be, (void*)(arrays + (ulong)n2 * 16), tc, ldc, n2, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmBatchedEx");
    }

    // ---- element-wise and row-wise kernels ----

    /// <inheritdoc/>
    public override void BiasAdd(TensorView y, int rows, int cols, TensorView bias)
    {
        long n = (long)rows * cols;
        Run("bs_bias_add", LaunchGeometry.Elementwise(n), F(y, "y", n), F(bias, "bias", cols), A((long)rows), A(cols));
    }

    /// <inheritdoc/>
    public override void BiasBackward(TensorView dy, int rows, int cols, TensorView dbias)
        => Run("bs_column_sum", LaunchGeometry.Columns(cols), F(dy, "dy", (long)rows * cols), A(rows), A(cols), F(dbias, "dbias", cols));

    /// <inheritdoc/>
    public override void Gelu(TensorView x, TensorView y, bool tanhApproximation)
    {
        Same(y.Length, x.Length, "y", "x");
        Run(tanhApproximation ? "bs_gelu_tanh" : "bs_gelu", LaunchGeometry.Elementwise(x.Length), F(x, "x"), F(y, "y"), A((long)x.Length));
    }

    /// <inheritdoc/>
    public override void GeluBackward(TensorView x, TensorView dy, TensorView dx, bool tanhApproximation)
    {
        Same(dy.Length, x.Length, "dy", "x");
        Same(dx.Length, x.Length, "dx", "x");
        Run(tanhApproximation ? "bs_gelu_tanh_backward" : "bs_gelu_backward", LaunchGeometry.Elementwise(x.Length),
            F(x, "x"), F(dy, "dy"), F(dx, "dx"), A((long)x.Length));
    }

    /// <inheritdoc/>
    public override void Tanh(TensorView x, TensorView y)
    {
        Same(y.Length, x.Length, "y", "x");
        Run("bs_tanh", LaunchGeometry.Elementwise(x.Length), F(x, "x"), F(y, "y"), A((long)x.Length));
    }

    /// <inheritdoc/>
    public override void TanhBackward(TensorView y, TensorView dy, TensorView dx)
    {
        Same(dy.Length, y.Length, "dy", "y");
        Same(dx.Length, y.Length, "dx", "y");
        Run("bs_tanh_backward", LaunchGeometry.Elementwise(y.Length), F(y, "y"), F(dy, "dy"), F(dx, "dx"), A((long)y.Length));
    }

    /// <inheritdoc/>
    public override void Add(TensorView y, TensorView x)
    {
        Same(x.Length, y.Length, "x", "y");
        Run("bs_add", LaunchGeometry.Elementwise(y.Length), F(y, "y"), F(x, "x"), A((long)y.Length));
    }

    /// <inheritdoc/>
    public override void LayerNormForward(TensorView x, int rows, int cols, TensorView gamma, TensorView beta, float eps,
        TensorView y, TensorView mean, TensorView rstd)
    {
        long n = (long)rows * cols;
        Run("bs_layernorm_forward", LaunchGeometry.Rows(rows, cols), F(x, "x", n), F(gamma, "gamma", cols), F(beta, "beta", cols), A(eps), A(cols),
            F(y, "y", n), F(mean, "mean", rows), F(rstd, "rstd", rows));
    }

    /// <inheritdoc/>
    public override void LayerNormBackward(TensorView dy, TensorView x, TensorView mean, TensorView rstd, TensorView gamma,
        int rows, int cols, TensorView dx, TensorView dgamma, TensorView dbeta)
    {
        long n = (long)rows * cols;
        ulong pdy = F(dy, "dy", n), px = F(x, "x", n), pm = F(mean, "mean", rows), pr = F(rstd, "rstd", rows);
        if (rows == 0 || cols == 0) return;
        // Parameter gradients first, so dx may alias dy.
        Run("bs_layernorm_backward_params", LaunchGeometry.Columns(cols), pdy, px, pm, pr, A(rows), A(cols), F(dgamma, "dgamma", cols), F(dbeta, "dbeta", cols));
        Run("bs_layernorm_backward_dx", LaunchGeometry.Rows(rows, cols), pdy, px, pm, pr, F(gamma, "gamma", cols), A(cols), F(dx, "dx", n));
    }

    /// <inheritdoc/>
    public override void SoftmaxForward(TensorView x, TensorView y, int batch, int rowsPerBatch, int cols, float scale, TensorView mask)
    {
        long n = (long)batch * rowsPerBatch * cols;
        ulong pm = mask.Tensor is null || mask.IsEmpty ? 0 : F(mask, "mask", (long)batch * cols);
        Run("bs_softmax_forward", LaunchGeometry.Rows(checked(batch * rowsPerBatch), cols), F(x, "x", n), F(y, "y", n),
            A(Math.Max(1, rowsPerBatch)), A(cols), A(scale), pm);
    }

    /// <inheritdoc/>
    public override void SoftmaxBackward(TensorView y, TensorView dy, TensorView dx, int rows, int cols, float scale)
    {
        long n = (long)rows * cols;
        Run("bs_softmax_backward", LaunchGeometry.Rows(rows, cols), F(y, "y", n), F(dy, "dy", n), F(dx, "dx", n), A(cols), A(scale));
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
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, $"p: dropout probability must be in [0, 1], got {p}");
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), offset, "offset must be non-negative");
        if (p == 0f)
        {
            Copy(x, y);
            return;
        }
        float scale = p == 1f ? 0f : 1f / (1f - p);
        Run("bs_dropout", LaunchGeometry.Dropout(x.Length, offset), F(x, xn), F(y, yn), A((long)x.Length), A(offset), A(p), A(scale),
            A((int)site), A((int)(uint)step), A((int)(uint)(step >> 32)), A((int)(uint)seed), A((int)(uint)(seed >> 32)));
    }

    /// <inheritdoc/>
    public override void EmbeddingForward(TensorView ids, TensorView table, int dim, TensorView output, bool accumulate)
    {
        long n = (long)ids.Length * dim;
        Run("bs_embedding_forward", LaunchGeometry.Elementwise(n), I(ids, "ids"), F(table, "table"), A(dim), F(output, "output", n),
            A((long)ids.Length), A(accumulate ? 1 : 0));
    }

    /// <inheritdoc/>
    public override void EmbeddingBackward(TensorView ids, TensorView doutput, int dim, TensorView dtable)
    {
        if (ids.Length == 0) return;
        Run("bs_embedding_backward", LaunchGeometry.EmbeddingBackward(dim), I(ids, "ids"), F(doutput, "doutput", (long)ids.Length * dim), A(dim),
            F(dtable, "dtable", dim), A((long)ids.Length));
    }

    /// <inheritdoc/>
    public override void CrossEntropyForward(TensorView logits, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax)
        => CrossEntropy(logits, 0, rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);

    private void CrossEntropy(TensorView logits, ulong bias, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax)
    {
        ulong pa = argmax.Tensor is null || argmax.IsEmpty ? 0 : I(argmax, "argmax", rows);
        Run("bs_cross_entropy_forward", LaunchGeometry.Rows(rows, cols), F(logits, "logits", (long)rows * cols), bias, A(cols),
            I(targets, "targets", rows), A(ignoreIndex), F(losses, "losses", rows), F(logSumExp, "logSumExp", rows), pa);
    }

    /// <inheritdoc/>
    public override void CrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dlogits)
    {
        long n = (long)rows * cols;
        Run("bs_cross_entropy_backward", LaunchGeometry.Rows(rows, cols), F(logits, "logits", n), F(logSumExp, "logSumExp", rows),
            I(targets, "targets", rows), A(ignoreIndex), A(cols), A(scale), F(dlogits, "dlogits", n));
    }

    /// <inheritdoc/>
    public override void BiasCrossEntropyForward(TensorView logits, TensorView bias, int rows, int cols, TensorView targets,
        int ignoreIndex, TensorView losses, TensorView logSumExp, TensorView argmax)
        => CrossEntropy(logits, F(bias, "bias", cols), rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);

    /// <inheritdoc/>
    public override void BiasCrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dbias, TensorView scratch)
    {
        CrossEntropyBackward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, logits);
        BiasBackward(logits, rows, cols, dbias);
    }

    /// <summary>None: the column sums are reduced in a fixed order without scratch.</summary>
    public override int BiasCrossEntropyScratch(int rows, int cols) => 0;

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
        _d.Check(_d.cuStreamSynchronize(_stream), "cuStreamSynchronize");
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

    /// <summary>destination = bfloat16(source), round to nearest even (<see cref="BFloat16.FromSingle(float)"/>).</summary>
    public void CastToBFloat16(TensorView source, TensorView destination)
    {
        Same(destination.Length, source.Length, "destination", "source");
        Run("bs_f32_to_bf16", LaunchGeometry.Elementwise(source.Length), F(source, "source"), P(destination, "destination", DType.BFloat16), A((long)source.Length));
    }

    /// <summary>destination = float32(source), exact.</summary>
    public void CastToFloat32(TensorView source, TensorView destination)
    {
        Same(destination.Length, source.Length, "destination", "source");
        Run("bs_bf16_to_f32", LaunchGeometry.Elementwise(source.Length), P(source, "source", DType.BFloat16), F(destination, "destination"), A((long)source.Length));
    }
}
