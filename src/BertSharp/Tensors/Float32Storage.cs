using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Float32 activations (<see cref="IStorage"/>): plain loads and stores, rows used in place.</summary>
internal readonly unsafe struct Float32Storage : IStorage
{
    public static DType Type => DType.Float32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(void* p, long i) => Vector256.Load((float*)p + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(void* p, long i, Vector256<float> v) => Vector256.Store(v, (float*)p + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadTail(void* p, long i, int n, float fill) => VMath.LoadTail((float*)p + i, n, fill);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTail(void* p, long i, int n, Vector256<float> v) => VMath.StoreTail((float*)p + i, n, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Get(void* p, long i) => ((float*)p)[i];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(void* p, long i, float v) => ((float*)p)[i] = v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Read(void* p, long i, int n, float* scratch) => (float*)p + i;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Target(void* p, long i, float* scratch) => (float*)p + i;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(void* p, long i, int n, float* scratch) { }
}
