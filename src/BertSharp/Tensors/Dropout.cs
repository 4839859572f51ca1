using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>Inverted dropout driven by a counter-based generator (Philox4x32-10, Salmon et al.,
/// "Parallel random numbers: as easy as 1, 2, 3", SC'11). Element i is kept iff the uniform drawn from
/// word i % 4 of Philox(key = seed, counter = (i / 4, site, step lo, step hi)) is ≥ p; kept values are
/// scaled by 1/(1 − p). The mask is a pure function of (seed, step, site, i): nothing is stored and
/// backward recomputes it, and any thread split gives the same result. x, y, dy and dx are activations: float32
/// (<c>float</c>) or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits), multiplied in float32 and rounded once
/// on store; the mask does not depend on the storage type.</summary>
public static unsafe class Dropout
{
    /// <summary>y = x ⊙ mask / (1 − p), where element i is kept iff <see cref="IsKept"/>(offset + i, p, seed, step, site).
    /// y may alias x; p must be in [0, 1] (p = 0 copies). <paramref name="offset"/> numbers x's elements within a larger
    /// tensor (a data-parallel rank's rows of the global batch), so that every slice draws the global tensor's mask.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, float p, ulong seed, ulong step, uint site, long offset = 0)
        where T : unmanaged
    {
        Check.SameLength(y.Length, x.Length, nameof(y), nameof(x));
        CheckP(p);
        Apply(x, y, p, seed, step, site, offset);
    }

    /// <summary>dx = dy ⊙ mask / (1 − p), with the forward's mask recomputed. dx may alias dy.</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, Span<T> dx, float p, ulong seed, ulong step, uint site, long offset = 0)
        where T : unmanaged
    {
        Check.SameLength(dx.Length, dy.Length, nameof(dx), nameof(dy));
        CheckP(p);
        Apply(dy, dx, p, seed, step, site, offset);
    }

    /// <summary>Whether element <paramref name="index"/> is kept (for tests and tools).</summary>
    public static bool IsKept(long index, float p, ulong seed, ulong step, uint site)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index), index, "index must be non-negative");
        CheckP(p);
        if (p == 0f) return true;
        Philox((uint)(index >> 2), site, (uint)step, (uint)(step >> 32), (uint)seed, (uint)(seed >> 32),
            out uint w0, out uint w1, out uint w2, out uint w3);
        uint w = (index & 3) switch { 0 => w0, 1 => w1, 2 => w2, _ => w3 };
        return ToUniform(w) >= p;
    }

    private static void CheckP(float p)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, $"p: dropout probability must be in [0, 1], got {p}");
    }

    private static void Apply<T>(ReadOnlySpan<T> x, Span<T> y, float p, ulong seed, ulong step, uint site, long offset)
        where T : unmanaged
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), offset, "offset must be non-negative");
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (p == 0f)
        {
            x.CopyTo(y); // CopyTo handles overlap (y aliasing x); x·1 needs no rounding in either storage
            return;
        }
        fixed (T* px = x, py = y)
        {
            if (typeof(T) == typeof(float)) Apply<Float32Storage>(px, py, x.Length, p, seed, step, site, offset);
            else Apply<BFloat16Storage>(px, py, x.Length, p, seed, step, site, offset);
        }
    }

    private static void Apply<TS>(void* x, void* y, int n, float p, ulong seed, ulong step, uint site, long offset)
        where TS : IStorage
    {
        float scale = p == 1f ? 0f : 1f / (1f - p);
        if ((offset & 3) != 0)
        {
            // A slice that starts inside a Philox block (rare: a row size not a multiple of 4): element by element.
            for (int i = 0; i < n; i++)
            {
                long index = offset + i;
                Philox((uint)(index >> 2), site, (uint)step, (uint)(step >> 32), (uint)seed, (uint)(seed >> 32),
                    out uint w0, out uint w1, out uint w2, out uint w3);
                uint w = (index & 3) switch { 0 => w0, 1 => w1, 2 => w2, _ => w3 };
                TS.Set(y, i, TS.Get(x, i) * (ToUniform(w) >= p ? scale : 0f));
            }
            return;
        }
        var body = new Body<TS>
        {
            X = x, Y = y, N = n, P = p, Scale = scale, BlockBase = (uint)(offset >> 2),
            Site = site, StepLo = (uint)step, StepHi = (uint)(step >> 32), K0 = (uint)seed, K1 = (uint)(seed >> 32),
        };
        KernelLoop.For((n + 3) / 4, 4096, ref body);
    }

    private struct Body<TS> : IRangeBody where TS : IStorage
    {
        public void* X, Y;
        public int N;
        public float P, Scale;
        public uint Site, StepLo, StepHi, K0, K1;
        /// <summary>Philox block of element 0 (offset / 4).</summary>
        public uint BlockBase;

        public void Invoke(int start, int end)
        {
            float p = P, scale = Scale;
            void* x = X, y = Y; // locals: stores through pointers would otherwise make the JIT reload the fields
            int b = start;
            // y = x · (kept ? 1/(1−p) : 0), a multiply as PyTorch does, so NaN/inf propagate as IEEE says.
            if (Avx2.IsSupported)
            {
                // Eight Philox blocks (32 elements) at a time, one block per 32-bit lane.
                var pv = Vector256.Create(p);
                var sv = Vector256.Create(scale);
                for (; b + 8 <= end && (long)(b + 8) * 4 <= N; b += 8)
                {
                    Philox8(Vector256.Create((uint)b + BlockBase) + Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7),
                        out var w0, out var w1, out var w2, out var w3);
                    // Transpose 4×8 words so element 4j + k (word k of block j) lands in order.
                    var t0 = Avx.UnpackLow(w0.AsSingle(), w1.AsSingle()); var t1 = Avx.UnpackLow(w2.AsSingle(), w3.AsSingle());
                    var t2 = Avx.UnpackHigh(w0.AsSingle(), w1.AsSingle()); var t3 = Avx.UnpackHigh(w2.AsSingle(), w3.AsSingle());
                    var u0 = Avx.UnpackLow(t0.AsDouble(), t1.AsDouble()).AsUInt32(); var u1 = Avx.UnpackHigh(t0.AsDouble(), t1.AsDouble()).AsUInt32();
                    var u2 = Avx.UnpackLow(t2.AsDouble(), t3.AsDouble()).AsUInt32(); var u3 = Avx.UnpackHigh(t2.AsDouble(), t3.AsDouble()).AsUInt32();
                    void* xb = Storage.At<TS>(x, (long)b * 4), yb = Storage.At<TS>(y, (long)b * 4);
                    TS.Store(yb, 0, TS.Load(xb, 0) * Factor(Avx2.Permute2x128(u0, u1, 0x20), pv, sv));
                    TS.Store(yb, 8, TS.Load(xb, 8) * Factor(Avx2.Permute2x128(u2, u3, 0x20), pv, sv));
                    TS.Store(yb, 16, TS.Load(xb, 16) * Factor(Avx2.Permute2x128(u0, u1, 0x31), pv, sv));
                    TS.Store(yb, 24, TS.Load(xb, 24) * Factor(Avx2.Permute2x128(u2, u3, 0x31), pv, sv));
                }
            }
            for (; b < end; b++)
            {
                Philox((uint)b + BlockBase, Site, StepLo, StepHi, K0, K1, out uint w0, out uint w1, out uint w2, out uint w3);
                int i = b * 4;
                if (i + 4 <= N)
                {
                    TS.Set(y, i, TS.Get(x, i) * (ToUniform(w0) >= p ? scale : 0f));
                    TS.Set(y, i + 1, TS.Get(x, i + 1) * (ToUniform(w1) >= p ? scale : 0f));
                    TS.Set(y, i + 2, TS.Get(x, i + 2) * (ToUniform(w2) >= p ? scale : 0f));
                    TS.Set(y, i + 3, TS.Get(x, i + 3) * (ToUniform(w3) >= p ? scale : 0f));
                }
                else
                {
                    for (int k = 0; i + k < N; k++)
                    {
                        uint w = k switch { 0 => w0, 1 => w1, _ => w2 };
                        TS.Set(y, i + k, TS.Get(x, i + k) * (ToUniform(w) >= p ? scale : 0f));
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Factor(Vector256<uint> w, Vector256<float> p, Vector256<float> scale)
        {
            // Same uniform as ToUniform: (w >> 8)·2^-24, exact in float.
            var u = Vector256.ConvertToSingle(Vector256.ShiftRightLogical(w, 8).AsInt32()) * Vector256.Create(1f / 16777216f);
            return Vector256.GreaterThanOrEqual(u, p) & scale;
        }

        /// <summary>Philox4x32-10 on eight counters (c0 per lane; c1..c3 and the key shared).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly void Philox8(Vector256<uint> c0, out Vector256<uint> o0, out Vector256<uint> o1, out Vector256<uint> o2, out Vector256<uint> o3)
        {
            var c1 = Vector256.Create(Site); var c2 = Vector256.Create(StepLo); var c3 = Vector256.Create(StepHi);
            uint k0 = K0, k1 = K1;
            var m0 = Vector256.Create(M0); var m1 = Vector256.Create(M1);
            for (int round = 0; round < 10; round++)
            {
                if (round > 0) { k0 += W0; k1 += W1; }
                MulHiLo(m0, c0, out var hi0, out var lo0);
                MulHiLo(m1, c2, out var hi1, out var lo1);
                var n0 = hi1 ^ c1 ^ Vector256.Create(k0);
                var n2 = hi0 ^ c3 ^ Vector256.Create(k1);
                c1 = lo1; c3 = lo0; c0 = n0; c2 = n2;
            }
            o0 = c0; o1 = c1; o2 = c2; o3 = c3;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void MulHiLo(Vector256<uint> m, Vector256<uint> c, out Vector256<uint> hi, out Vector256<uint> lo)
        {
            // vpmuludq multiplies the even 32-bit lanes into 64-bit products; shift to do the odd ones.
            var even = Avx2.Multiply(m, c);
            var odd = Avx2.Multiply(m, Avx2.ShiftRightLogical(c.AsUInt64(), 32).AsUInt32());
            lo = Avx2.Blend(even.AsUInt32(), Avx2.ShiftLeftLogical(odd, 32).AsUInt32(), 0b10101010);
            hi = Avx2.Blend(Avx2.ShiftRightLogical(even, 32).AsUInt32(), odd.AsUInt32(), 0b10101010);
        }
    }

    /// <summary>Top 24 bits as a float in [0, 1), exactly representable.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ToUniform(uint w) => (w >> 8) * (1f / 16777216f);

    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Philox4x32 with 10 rounds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        out uint o0, out uint o1, out uint o2, out uint o3)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint)p1;
            c3 = (uint)p0;
            c0 = n0;
            c2 = n2;
        }
        o0 = c0; o1 = c1; o2 = c2; o3 = c3;
    }
}
