using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>BFloat16 activations (<see cref="IStorage"/>): 16-bit values (<see cref="BFloat16"/>'s bits) widened to
/// float32 exactly on load and rounded to nearest even on store (NaN kept), so every kernel computes in float32
/// between a load and a store.</summary>
internal readonly unsafe struct BFloat16Storage : IStorage
{
    public static DType Type => DType.BFloat16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(void* p, long i) => Widen(Vector128.Load((ushort*)p + i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(void* p, long i, Vector256<float> v) => Vector128.Store(Narrow(v), (ushort*)p + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadTail(void* p, long i, int n, float fill)
    {
        var v = Vector256.Create(fill);
        float* vp = (float*)&v;
        ushort* s = (ushort*)p + i;
        for (int k = 0; k < n; k++) vp[k] = BFloat16.ToSingle(s[k]);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTail(void* p, long i, int n, Vector256<float> v)
    {
        float* vp = (float*)&v;
        ushort* d = (ushort*)p + i;
        for (int k = 0; k < n; k++) d[k] = BFloat16.FromSingle(vp[k]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Get(void* p, long i) => BFloat16.ToSingle(((ushort*)p)[i]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(void* p, long i, float v) => ((ushort*)p)[i] = BFloat16.FromSingle(v);

    public static float* Read(void* p, long i, int n, float* scratch)
    {
        BFloat16.ToSingle((ushort*)p + i, scratch, n);
        return scratch;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Target(void* p, long i, float* scratch) => scratch;

    public static void Write(void* p, long i, int n, float* scratch) => BFloat16.FromSingle(scratch, (ushort*)p + i, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector128<ushort> h)
    {
        var w = Avx2.IsSupported ? Avx2.ConvertToVector256Int32(h).AsUInt32()
            : Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h));
        return (w << 16).AsSingle();
    }

    // Round to nearest even, NaN made quiet (BFloat16.RoundBits), then the top halves packed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> Narrow(Vector256<float> v)
    {
        var u = v.AsUInt32();
        var rounded = u + Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256<uint>.One);
        var nan = Vector256.GreaterThan(u & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
        var r = Vector256.ConditionalSelect(nan, u | Vector256.Create(0x00400000u), rounded) >> 16;
        return Avx512F.VL.IsSupported ? Avx512F.VL.ConvertToVector128UInt16(r) : Vector128.Narrow(r.GetLower(), r.GetUpper());
    }
}
