using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using BertSharp.Tensors;

namespace BertSharp.Distributed;

/// <summary>
/// MPI_COMM_WORLD of the MPI library the process was launched with (<c>mpirun -np N ...</c>), by P/Invoke: Open MPI's
/// <c>libmpi.so.40</c> (whose handles are the addresses of exported objects: <c>ompi_mpi_comm_world</c>,
/// <c>ompi_mpi_float</c>, ...) or MPICH's <c>libmpich.so.12</c> (whose handles are integers). Sums are
/// <c>MPI_Allreduce(MPI_IN_PLACE, ..., MPI_SUM, MPI_COMM_WORLD)</c>; a buffer on the CPU device is reduced where it lies,
/// one on another device through a host copy. MPI's default error handler is kept: a rank that dies ends the job.
/// Every call must come from one thread at a time (MPI_THREAD_SERIALIZED).
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    /// <summary>The libraries tried, in order, when none is named.</summary>
    public static readonly IReadOnlyList<string> DefaultLibraries = ["libmpi.so.40", "libmpi.so", "libmpich.so.12", "libmpich.so"];

    private const int ThreadSerialized = 2; // MPI_THREAD_SERIALIZED in Open MPI and MPICH
    private readonly bool _intHandles;      // MPICH: handles are ints; Open MPI: pointers
    private readonly nint _world, _float, _double, _sum, _inPlace;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> _allreduceP;
    private readonly delegate* unmanaged<void*, void*, int, int, int, int, int> _allreduceI;
    private readonly delegate* unmanaged<nint, int> _barrierP;
    private readonly delegate* unmanaged<int, int> _barrierI;
    private readonly delegate* unmanaged<nint, int, int> _abortP;
    private readonly delegate* unmanaged<int, int, int> _abortI;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<int*, int> _finalized;
    private float[] _host = [];
    private bool _disposed;

    /// <summary>This process's rank in MPI_COMM_WORLD.</summary>
    public int Rank { get; }
    /// <summary>The number of processes in MPI_COMM_WORLD.</summary>
    public int Size { get; }
    /// <summary>"MPI (Open MPI v4.1.4, ...)": the library's own version line.</summary>
    public string Description { get; }
    /// <summary>The library file that was loaded.</summary>
    public string LibraryPath { get; }
    /// <summary>Seconds spent in Float32 allreduces (the gradients) since start or <see cref="ResetCounters"/>.</summary>
    public double AllReduceSeconds { get; private set; }
    /// <summary>Bytes of Float32 buffers allreduced (each rank's buffer size, summed over the calls).</summary>
    public long AllReduceBytes { get; private set; }
    /// <summary>Float32 allreduce calls.</summary>
    public long AllReduceCalls { get; private set; }

    /// <summary>Zeroes <see cref="AllReduceSeconds"/>, <see cref="AllReduceBytes"/> and <see cref="AllReduceCalls"/>.</summary>
    public void ResetCounters() => (AllReduceSeconds, AllReduceBytes, AllReduceCalls) = (0, 0, 0);

    /// <summary>Loads the MPI library and calls MPI_Init_thread (once per process).</summary>
    /// <param name="library">a library file name or path; null tries <see cref="DefaultLibraries"/></param>
    /// <exception cref="BertSharpException">the library cannot be loaded or is not a supported MPI</exception>
    /// <exception cref="InvalidOperationException">MPI is already initialised, or MPI_Init_thread fails</exception>
    public MpiCommunicator(string? library = null)
    {
        nint lib = 0;
        var tried = new List<string>();
        foreach (var name in library is null ? DefaultLibraries : [library])
        {
            if (NativeLibrary.TryLoad(name, out lib)) { LibraryPath = name; break; }
            tried.Add(name);
        }
        if (lib == 0)
            throw new BertSharpException($"MPI: cannot load {string.Join(", ", tried)}; install Open MPI (apt-get install openmpi-bin libopenmpi-dev) "
                + $"or name the library with {MpiLaunch.LibraryVariable}", ErrorKind.BadInput);
        LibraryPath ??= library!;
        // Open MPI opens its components (plugins) with dlopen; they need libmpi's symbols visible globally.
        PromoteToGlobal(LibraryPath);

        nint Export(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new BertSharpException($"MPI: {LibraryPath} has no {name}: not an MPI library", ErrorKind.BadInput);

        if (NativeLibrary.TryGetExport(lib, "ompi_mpi_comm_world", out var world))
        {
            (_world, _float, _double, _sum, _inPlace) = (world, Export("ompi_mpi_float"), Export("ompi_mpi_double"), Export("ompi_mpi_op_sum"), 1);
            _allreduceP = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Export("MPI_Allreduce");
            _barrierP = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
            _abortP = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        }
        else if (NativeLibrary.TryGetExport(lib, "MPIR_Allreduce_impl", out _) || NativeLibrary.TryGetExport(lib, "MPICH_Abort", out _)
                 || LibraryPath.Contains("mpich", StringComparison.OrdinalIgnoreCase))
        {
            // MPICH's mpi.h: integer handles.
            _intHandles = true;
            (_world, _float, _double, _sum, _inPlace) = (0x44000000, 0x4c00040a, 0x4c00080b, 0x58000003, -1);
            _allreduceI = (delegate* unmanaged<void*, void*, int, int, int, int, int>)Export("MPI_Allreduce");
            _barrierI = (delegate* unmanaged<int, int>)Export("MPI_Barrier");
            _abortI = (delegate* unmanaged<int, int, int>)Export("MPI_Abort");
        }
        else throw new BertSharpException($"MPI: {LibraryPath} is neither Open MPI nor MPICH (no ompi_mpi_comm_world); only those two are supported", ErrorKind.BadInput);

        var initThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Export("MPI_Init_thread");
        var initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        _finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        int flag = 0, provided = 0;
        Check(initialized(&flag), "MPI_Initialized");
        if (flag != 0) throw new InvalidOperationException("MPI is already initialised in this process (one MpiCommunicator per process)");
        Check(initThread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        // provided < SERIALIZED (a library built without threads) still works: the CLI makes every call from one thread.
        int rank = 0, size = 0;
        if (_intHandles)
        {
            var r = (delegate* unmanaged<int, int*, int>)Export("MPI_Comm_rank");
            var s = (delegate* unmanaged<int, int*, int>)Export("MPI_Comm_size");
            Check(r((int)_world, &rank), "MPI_Comm_rank");
            Check(s((int)_world, &size), "MPI_Comm_size");
        }
        else
        {
            var r = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
            var s = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
            Check(r(_world, &rank), "MPI_Comm_rank");
            Check(s(_world, &size), "MPI_Comm_size");
        }
        (Rank, Size) = (rank, size);
        Description = $"MPI ({Version(lib) ?? LibraryPath})";
    }

    private static string? Version(nint lib)
    {
        if (!NativeLibrary.TryGetExport(lib, "MPI_Get_library_version", out var p)) return null;
        var f = (delegate* unmanaged<byte*, int*, int>)p;
        var buffer = new byte[8192]; // MPI_MAX_LIBRARY_VERSION_STRING: 256 in Open MPI, 8192 in MPICH
        int length = 0;
        fixed (byte* b = buffer)
            if (f(b, &length) != 0) return null;
        string text = Encoding.UTF8.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length)).TrimEnd('\0');
        string first = text.Split('\n', 2)[0].Trim();
        int comma = first.IndexOf(',');
        return comma > 0 ? first[..comma] : first;
    }

    [DllImport("libc.so.6", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    private static void PromoteToGlobal(string library)
    {
        if (!OperatingSystem.IsLinux()) return;
        const int RtldNow = 2, RtldGlobal = 0x100;
        try { DlOpen(library, RtldNow | RtldGlobal); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { } // not glibc: plugins may still load
    }

    private static void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"MPI: {call} failed with error {code}");
    }

    /// <inheritdoc/>
    public void AllReduceSum(TensorView buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Size == 1 || buffer.Length == 0) return;
        long t0 = Stopwatch.GetTimestamp();
        var device = buffer.Tensor.Device;
        if (device.TryGetHostMemory(buffer, out var memory))
        {
            using var pin = memory.Pin();
            Reduce((float*)pin.Pointer, memory.Length, _float, sizeof(float));
        }
        else
        {
            if (_host.Length < buffer.Length) _host = new float[buffer.Length];
            var span = _host.AsSpan(0, buffer.Length);
            device.CopyToHost<float>(buffer, span);
            fixed (float* p = span) Reduce(p, span.Length, _float, sizeof(float));
            device.CopyToDevice<float>(span, buffer);
        }
        AllReduceSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        AllReduceBytes += (long)buffer.Length * sizeof(float);
        AllReduceCalls++;
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Size == 1 || values.Length == 0) return;
        fixed (double* p = values) Reduce(p, values.Length, _double, sizeof(double));
    }

    /// <summary>In-place sum of <paramref name="count"/> elements, in chunks of at most int.MaxValue (MPI's counts are ints).</summary>
    private void Reduce(void* data, long count, nint type, int elementSize)
    {
        byte* p = (byte*)data;
        for (long done = 0; done < count;)
        {
            int n = (int)Math.Min(int.MaxValue, count - done);
            int rc = _intHandles
                ? _allreduceI((void*)_inPlace, p + done * elementSize, n, (int)type, (int)_sum, (int)_world)
                : _allreduceP((void*)_inPlace, p + done * elementSize, n, type, _sum, _world);
            Check(rc, "MPI_Allreduce");
            done += n;
        }
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check(_intHandles ? _barrierI((int)_world) : _barrierP(_world), "MPI_Barrier");
    }

    /// <summary>MPI_Abort on MPI_COMM_WORLD: the launcher ends every rank and exits with <paramref name="exitCode"/>.</summary>
    public void Abort(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        if (_intHandles) _abortI((int)_world, exitCode);
        else _abortP(_world, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return; should it, end this rank anyway
    }

    /// <summary>MPI_Finalize (every rank must call it; after it, no MPI call may be made in this process).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int done = 0;
        if (_finalized(&done) == 0 && done == 0) _finalize();
    }
}
