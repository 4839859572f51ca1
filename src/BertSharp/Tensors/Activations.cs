using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Element-wise activations and their gradients. Work is split over blocks of 8 elements,
/// and every element (tails included) goes through the same vector code, so results do not depend
/// on the thread count. Each takes float32 spans, or bfloat16 spans (<c>ushort</c>, <see cref="BFloat16"/>'s bits)
/// whose values are widened, computed in float32 and rounded once on store.</summary>
public static unsafe class Activations
{
    private const int MinBlocks = 2048; // 16K elements per thread at least

    /// <summary>BERT's exact GELU, y = x·Φ(x) (erf form). y may alias x.</summary>
    public static void Gelu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        fixed (T* px = x, py = y)
        {
            if (typeof(T) == typeof(float)) Unary<GeluOp, Float32Storage>(px, py, x.Length);
            else if (typeof(T) == typeof(ushort)) Unary<GeluOp, BFloat16Storage>(px, py, x.Length);
            else throw Storage.Unsupported<T>();
        }
    }

    /// <summary>dx = dy·(Φ(x) + x·φ(x)). dx may alias dy.</summary>
    public static void GeluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged
    {
        Check.SameLength(dy.Length, x.Length, nameof(dy), nameof(x));
        Check.SameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        fixed (T* px = x, pdy = dy, pdx = dx)
        {
            if (typeof(T) == typeof(float)) Binary<GeluGradOp, Float32Storage>(px, pdy, pdx, x.Length);
            else if (typeof(T) == typeof(ushort)) Binary<GeluGradOp, BFloat16Storage>(px, pdy, pdx, x.Length);
            else throw Storage.Unsupported<T>();
        }
    }

    /// <summary>GELU, tanh approximation (Google BERT's and HF's gelu_new):
    /// 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), computed as x·sigmoid(2u) which avoids cancellation.</summary>
    public static void GeluTanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        fixed (T* px = x, py = y)
        {
            if (typeof(T) == typeof(float)) Unary<GeluTanhOp, Float32Storage>(px, py, x.Length);
            else if (typeof(T) == typeof(ushort)) Unary<GeluTanhOp, BFloat16Storage>(px, py, x.Length);
            else throw Storage.Unsupported<T>();
        }
    }

    /// <summary>dx = dy·d/dx of <see cref="GeluTanh"/> at x. dx may alias dy.</summary>
    public static void GeluTanhBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged
    {
        Check.SameLength(dy.Length, x.Length, nameof(dy), nameof(x));
        Check.SameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        fixed (T* px = x, pdy = dy, pdx = dx)
        {
            if (typeof(T) == typeof(float)) Binary<GeluTanhGradOp, Float32Storage>(px, pdy, pdx, x.Length);
            else if (typeof(T) == typeof(ushort)) Binary<GeluTanhGradOp, BFloat16Storage>(px, pdy, pdx, x.Length);
            else throw Storage.Unsupported<T>();
        }
    }

    /// <summary>y = tanh(x) (the pooler's activation). y may alias x.</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        fixed (T* px = x, py = y)
        {
            if (typeof(T) == typeof(float)) Unary<TanhOp, Float32Storage>(px, py, x.Length);
            else if (typeof(T) == typeof(ushort)) Unary<TanhOp, BFloat16Storage>(px, py, x.Length);
            else throw Storage.Unsupported<T>();
        }
    }

    /// <summary>dx = dy·(1 − y²), from the forward output y. dx may alias dy.</summary>
    public static void TanhBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged
    {
        Check.SameLength(dy.Length, y.Length, nameof(dy), nameof(y));
        Check.SameLength(dx.Length, y.Length, nameof(dx), nameof(y));
        fixed (T* py = y, pdy = dy, pdx = dx)
        {
            if (typeof(T) == typeof(float)) Binary<TanhGradOp, Float32Storage>(py, pdy, pdx, y.Length);
            else if (typeof(T) == typeof(ushort)) Binary<TanhGradOp, BFloat16Storage>(py, pdy, pdx, y.Length);
            else throw Storage.Unsupported<T>();
        }
    }

    internal interface IUnaryOp { static abstract Vector256<float> Apply(Vector256<float> x); }
    internal interface IBinaryOp { static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> dy); }

    private static void Unary<TOp, TS>(void* x, void* y, int n) where TOp : IUnaryOp where TS : IStorage
    {
        var body = new UnaryBody<TOp, TS> { X = x, Y = y, N = n };
        KernelLoop.For((n + 7) / 8, MinBlocks, ref body);
    }

    private static void Binary<TOp, TS>(void* x, void* dy, void* dx, int n) where TOp : IBinaryOp where TS : IStorage
    {
        var body = new BinaryBody<TOp, TS> { X = x, Dy = dy, Dx = dx, N = n };
        KernelLoop.For((n + 7) / 8, MinBlocks, ref body);
    }

    private struct UnaryBody<TOp, TS> : IRangeBody where TOp : IUnaryOp where TS : IStorage
    {
        public void* X, Y;
        public int N;
        public void Invoke(int start, int end)
        {
            int i = start * 8, e = (int)Math.Min(N, (long)end * 8);
            // Two independent vectors per iteration: the ops are long dependency chains, and interleaving
            // two of them keeps more of the core busy.
            for (; i <= e - 16; i += 16)
            {
                var a = TOp.Apply(TS.Load(X, i));
                var b = TOp.Apply(TS.Load(X, i + 8));
                TS.Store(Y, i, a);
                TS.Store(Y, i + 8, b);
            }
            for (; i <= e - 8; i += 8) TS.Store(Y, i, TOp.Apply(TS.Load(X, i)));
            if (i < e) TS.StoreTail(Y, i, e - i, TOp.Apply(TS.LoadTail(X, i, e - i, 0f)));
        }
    }

    private struct BinaryBody<TOp, TS> : IRangeBody where TOp : IBinaryOp where TS : IStorage
    {
        public void* X, Dy, Dx;
        public int N;
        public void Invoke(int start, int end)
        {
            int i = start * 8, e = (int)Math.Min(N, (long)end * 8);
            for (; i <= e - 16; i += 16)
            {
                var a = TOp.Apply(TS.Load(X, i), TS.Load(Dy, i));
                var b = TOp.Apply(TS.Load(X, i + 8), TS.Load(Dy, i + 8));
                TS.Store(Dx, i, a);
                TS.Store(Dx, i + 8, b);
            }
            for (; i <= e - 8; i += 8) TS.Store(Dx, i, TOp.Apply(TS.Load(X, i), TS.Load(Dy, i)));
            if (i < e) TS.StoreTail(Dx, i, e - i, TOp.Apply(TS.LoadTail(X, i, e - i, 0f), TS.LoadTail(Dy, i, e - i, 0f)));
        }
    }

    private struct GeluOp : IUnaryOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x) => x * VMath.NormalCdf(x);
    }

    private struct GeluGradOp : IBinaryOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> dy)
        {
            var cdf = VMath.NormalCdfPdf(x, out var pdf);
            return dy * VMath.Fma(x, pdf, cdf);
        }
    }

    private const float SqrtTwoOverPi = 0.797884560802865356f;
    private const float GeluC = 0.044715f;

    private struct GeluTanhOp : IUnaryOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x)
        {
            // 0.5(1 + tanh u) = 1/(1 + e^(−2u))
            var u = Vector256.Create(SqrtTwoOverPi) * VMath.Fma(Vector256.Create(GeluC) * x, x * x, x);
            return x / (Vector256<float>.One + VMath.Exp(u * Vector256.Create(-2f)));
        }
    }

    private struct GeluTanhGradOp : IBinaryOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> dy)
        {
            var x2 = x * x;
            var u = Vector256.Create(SqrtTwoOverPi) * VMath.Fma(Vector256.Create(GeluC) * x, x2, x);
            var s = Vector256<float>.One / (Vector256<float>.One + VMath.Exp(u * Vector256.Create(-2f)));
            // d/dx [x·s(2u)] = s + x·2u'·s(1 − s), u' = √(2/π)(1 + 3·0.044715·x²)
            var du2 = Vector256.Create(2f * SqrtTwoOverPi) * VMath.Fma(Vector256.Create(3f * GeluC), x2, Vector256<float>.One);
            return dy * VMath.Fma(x * du2, s - s * s, s);
        }
    }

    private struct TanhOp : IUnaryOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x) => VMath.Tanh(x);
    }

    private struct TanhGradOp : IBinaryOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> y, Vector256<float> dy)
            => dy * (Vector256<float>.One - y * y);
    }
}
