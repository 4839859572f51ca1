using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>
/// How a kernel reads and writes an activation tensor's elements whatever their storage type: every kernel computes
/// in float32 and is written once, generic over <see cref="Float32Storage"/> (loads and stores are plain float32
/// accesses, so the float32 path is the code it always was) and <see cref="BFloat16Storage"/> (16-bit values widened
/// on load, rounded to nearest even on store). Pointers are to element 0 of the storage; indices count elements.
/// <para>Two access styles: 8 elements at a time in registers (<see cref="Load"/>/<see cref="Store"/>, for
/// element-wise kernels), or a whole row staged as float32 (<see cref="Read"/> gives float32 values to read;
/// <see cref="Target"/> a float32 row to write, stored by <see cref="Write"/>), for row kernels that sweep a row
/// several times: a bf16 row is converted once into per-thread scratch that stays in L1, a float32 row is used in
/// place.</para>
/// </summary>
internal unsafe interface IStorage
{
    /// <summary>The element type stored.</summary>
    static abstract DType Type { get; }

    /// <summary>Elements p[i .. i + 8) as float32.</summary>
    static abstract Vector256<float> Load(void* p, long i);
    /// <summary>Stores v into p[i .. i + 8) (rounded to the storage type).</summary>
    static abstract void Store(void* p, long i, Vector256<float> v);
    /// <summary>The first n (&lt; 8) elements from p[i], the other lanes <paramref name="fill"/>.</summary>
    static abstract Vector256<float> LoadTail(void* p, long i, int n, float fill);
    /// <summary>Stores the first n (&lt; 8) lanes of v into p[i ..].</summary>
    static abstract void StoreTail(void* p, long i, int n, Vector256<float> v);
    /// <summary>Element p[i] as float32.</summary>
    static abstract float Get(void* p, long i);
    /// <summary>p[i] = v (rounded to the storage type).</summary>
    static abstract void Set(void* p, long i, float v);

    /// <summary>n elements from p[i] as float32: the storage itself (Float32) or a converted copy in
    /// <paramref name="scratch"/> (at least n floats).</summary>
    static abstract float* Read(void* p, long i, int n, float* scratch);
    /// <summary>Where to compute n outputs destined for p[i]: the storage itself (Float32) or <paramref name="scratch"/>;
    /// <see cref="Write"/> then stores them.</summary>
    static abstract float* Target(void* p, long i, float* scratch);
    /// <summary>Stores the n outputs computed at <see cref="Target"/> (nothing to do for Float32).</summary>
    static abstract void Write(void* p, long i, int n, float* scratch);
}
