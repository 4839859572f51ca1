using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

/// <summary>Element-wise arithmetic on activations: float32 (<c>float</c>) or bfloat16 (<c>ushort</c>,
/// <see cref="BFloat16"/>'s bits), computed in float32 and rounded once on store. Every element is computed alone, so
/// results do not depend on the thread count.</summary>
public static unsafe class Elementwise
{
    private const int MinBlocks = 2048; // 16K elements per thread at least

    /// <summary>y += x (the residual add). y may alias x exactly; partly overlapping spans are not allowed.</summary>
    public static void Add<T>(Span<T> y, ReadOnlySpan<T> x) where T : unmanaged
    {
        Check.SameLength(x.Length, y.Length, nameof(x), nameof(y));
        if (typeof(T) == typeof(float))
        {
            // float32 stays on TensorPrimitives (one IEEE add per element either way; it picks the widest vectors).
            var yf = MemoryMarshal.Cast<T, float>(y);
            TensorPrimitives.Add(yf, MemoryMarshal.Cast<T, float>(x), yf);
        }
        else if (typeof(T) == typeof(ushort))
        {
            fixed (T* py = y, px = x)
            {
                var body = new AddBody<BFloat16Storage> { Y = py, X = px, N = y.Length };
                KernelLoop.For((y.Length + 7) / 8, MinBlocks, ref body);
            }
        }
        else throw Storage.Unsupported<T>();
    }

    private struct AddBody<TS> : IRangeBody where TS : IStorage
    {
        public void* Y, X;
        public int N;
        public void Invoke(int start, int end)
        {
            int i = start * 8, e = (int)Math.Min(N, (long)end * 8);
            for (; i <= e - 16; i += 16)
            {
                var a = TS.Load(Y, i) + TS.Load(X, i);
                var b = TS.Load(Y, i + 8) + TS.Load(X, i + 8);
                TS.Store(Y, i, a);
                TS.Store(Y, i + 8, b);
            }
            for (; i <= e - 8; i += 8) TS.Store(Y, i, TS.Load(Y, i) + TS.Load(X, i));
            if (i < e) TS.StoreTail(Y, i, e - i, TS.LoadTail(Y, i, e - i, 0f) + TS.LoadTail(X, i, e - i, 0f));
        }
    }
}
