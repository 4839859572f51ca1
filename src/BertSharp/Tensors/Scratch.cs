using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

/// <summary>Per-thread scratch, grown on demand and then reused: no allocation per call in steady
/// state. Pinned so that kernel bodies on worker threads can hold raw pointers into it. Thread-static
/// so that two user threads calling kernels at once never share a buffer.</summary>
internal static unsafe class Scratch
{
    [ThreadStatic] private static float[]? _floats;
    [ThreadStatic] private static double[]? _doubles;

    public static float* Floats(long count)
    {
        if (_floats is null || _floats.Length < count)
            _floats = GC.AllocateUninitializedArray<float>((int)Math.Max(count, 1024), pinned: true);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_floats));
    }

    [ThreadStatic] private static float[]?[]? _rows;

    /// <summary>Row buffer <paramref name="slot"/> (0–3) of the calling thread, at least <paramref name="count"/> floats:
    /// where row kernels stage a bf16 row as float32 (<see cref="IStorage.Read"/>, <see cref="IStorage.Target"/>).
    /// Distinct from <see cref="Floats"/>, which a kernel's caller may hold for partial sums while workers run.</summary>
    public static float* Row(int slot, long count)
    {
        var rows = _rows ??= new float[]?[4];
        var r = rows[slot];
        if (r is null || r.Length < count) rows[slot] = r = GC.AllocateUninitializedArray<float>((int)Math.Max(count, 1024), pinned: true);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(r));
    }

    public static double* Doubles(long count)
    {
        if (_doubles is null || _doubles.Length < count)
            _doubles = GC.AllocateUninitializedArray<double>((int)Math.Max(count, 256), pinned: true);
        return (double*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_doubles));
    }
}
