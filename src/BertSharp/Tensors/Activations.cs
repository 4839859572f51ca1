using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Element-wise activations and their gradients. Work is split over blocks of 8 elements,
/// and every element (tails included) goes through the same vector code, so results do not depend
/// on the thread count.</summary>
public static unsafe class Activations
{
    private const int MinBlocks = 2048; // 16K elements per thread at least

    /// <summary>BERT's exact GELU, y = x·Φ(x) (erf form). y may alias x.</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        fixed (float* px = x, py = y)
        {
            var body = new UnaryBody<GeluOp> { X = px, Y = py, N = x.Length };
            KernelLoop.For((x.Length + 7) / 8, MinBlocks, ref body);
        }
    }

    /// <summary>dx = dy·(Φ(x) + x·φ(x)). dx may alias dy.</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Check.SameLength(dy.Length, x.Length, nameof(dy), nameof(x));
        Check.SameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        fixed (float* px = x, pdy = dy, pdx = dx)
        {
            var body = new BinaryBody<GeluGradOp> { X = px, Dy = pdy, Dx = pdx, N = x.Length };
            KernelLoop.For((x.Length + 7) / 8, MinBlocks, ref body);
        }
    }

    /// <summary>GELU, tanh approximation (Google BERT's and HF's gelu_new):
    /// 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), computed as x·sigmoid(2u) which avoids cancellation.</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y)
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        fixed (float* px = x, py = y)
        {
            var body = new UnaryBody<GeluTanhOp> { X = px, Y = py, N = x.Length };
            KernelLoop.For((x.Length + 7) / 8, MinBlocks, ref body);
        }
    }

    /// <summary>dx = dy·d/dx of <see cref="GeluTanh"/> at x. dx may alias dy.</summary>
    public static void GeluTanhBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Check.SameLength(dy.Length, x.Length, nameof(dy), nameof(x));
        Check.SameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        fixed (float* px = x, pdy = dy, pdx = dx)
        {
            var body = new BinaryBody<GeluTanhGradOp> { X = px, Dy = pdy, Dx = pdx, N = x.Length };
            KernelLoop.For((x.Length + 7) / 8, MinBlocks, ref body);
        }
    }

    /// <summary>y = tanh(x) (the pooler's activation). y may alias x.</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        fixed (float* px = x, py = y)
        {
            var body = new UnaryBody<TanhOp> { X = px, Y = py, N = x.Length };
            KernelLoop.For((x.Length + 7) / 8, MinBlocks, ref body);
        }
    }

    /// <summary>dx = dy·(1 − y²), from the forward output y. dx may alias dy.</summary>
    public static void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Check.SameLength(dy.Length, y.Length, nameof(dy), nameof(y));
        Check.SameLength(dx.Length, y.Length, nameof(dx), nameof(y));
        fixed (float* py = y, pdy = dy, pdx = dx)
        {
            var body = new BinaryBody<TanhGradOp> { X = py, Dy = pdy, Dx = pdx, N = y.Length };
            KernelLoop.For((y.Length + 7) / 8, MinBlocks, ref body);
        }
    }

    internal interface IUnaryOp { static abstract Vector256<float> Apply(Vector256<float> x); }
    internal interface IBinaryOp { static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> dy); }

    private struct UnaryBody<TOp> : IRangeBody where TOp : IUnaryOp
    {
        public float* X, Y;
        public int N;
        public void Invoke(int start, int end)
        {
            int i = start * 8, e = (int)Math.Min(N, (long)end * 8);
            // Two independent vectors per iteration: the ops are long dependency chains, and interleaving
            // two of them keeps more of the core busy.
            for (; i <= e - 16; i += 16)
            {
                var a = TOp.Apply(Vector256.Load(X + i));
                var b = TOp.Apply(Vector256.Load(X + i + 8));
                Vector256.Store(a, Y + i);
                Vector256.Store(b, Y + i + 8);
            }
            for (; i <= e - 8; i += 8) Vector256.Store(TOp.Apply(Vector256.Load(X + i)), Y + i);
            if (i < e) VMath.StoreTail(Y + i, e - i, TOp.Apply(VMath.LoadTail(X + i, e - i, 0f)));
        }
    }

    private struct BinaryBody<TOp> : IRangeBody where TOp : IBinaryOp
    {
        public float* X, Dy, Dx;
        public int N;
        public void Invoke(int start, int end)
        {
            int i = start * 8, e = (int)Math.Min(N, (long)end * 8);
            for (; i <= e - 16; i += 16)
            {
                var a = TOp.Apply(Vector256.Load(X + i), Vector256.Load(Dy + i));
                var b = TOp.Apply(Vector256.Load(X + i + 8), Vector256.Load(Dy + i + 8));
                Vector256.Store(a, Dx + i);
                Vector256.Store(b, Dx + i + 8);
            }
            for (; i <= e - 8; i += 8) Vector256.Store(TOp.Apply(Vector256.Load(X + i), Vector256.Load(Dy + i)), Dx + i);
            if (i < e) VMath.StoreTail(Dx + i, e - i, TOp.Apply(VMath.LoadTail(X + i, e - i, 0f), VMath.LoadTail(Dy + i, e - i, 0f)));
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
