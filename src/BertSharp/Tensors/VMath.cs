using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>Vectorised float math used by the kernels. Every element goes through the same vector
/// code (tails are padded into a vector, see <see cref="LoadTail"/>), so a value never depends on
/// where a thread's chunk happened to end.</summary>
internal static unsafe class VMath
{
    public const int W = 8; // Vector256<float>.Count

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadTail(float* p, int n, float fill)
    {
        var v = Vector256.Create(fill);
        float* vp = (float*)&v;
        for (int i = 0; i < n; i++) vp[i] = p[i];
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTail(float* p, int n, Vector256<float> v)
    {
        float* vp = (float*)&v;
        for (int i = 0; i < n; i++) p[i] = vp[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c)
        => Vector256.FusedMultiplyAdd(a, b, c);

    // x86 max/min return the second operand when either is NaN; putting x second propagates NaN.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaxPropagateX(Vector256<float> bound, Vector256<float> x)
        => Avx.IsSupported ? Avx.Max(bound, x) : Vector256.Max(bound, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MinPropagateX(Vector256<float> bound, Vector256<float> x)
        => Avx.IsSupported ? Avx.Min(bound, x) : Vector256.Min(bound, x);

    /// <summary>Fast max for reductions where NaN is caught later (by exp of the same values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaxFast(Vector256<float> a, Vector256<float> b)
        => Avx.IsSupported ? Avx.Max(a, b) : Vector256.Max(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HMax(Vector256<float> v)
    {
        var h = Vector128.Max(v.GetLower(), v.GetUpper());
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
        return h.ToScalar();
    }

    /// <summary>e^x, about 1 ulp on the normal range (Cody–Waite reduction by ln 2, degree-6
    /// polynomial). exp(-inf) = 0, exp(+inf) = +inf, NaN propagates; results below ~1.7e-38
    /// flush to 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x) => ExpHiLo(x, Vector256<float>.Zero);

    /// <summary>e^x for x ≤ 0 (or −inf, or NaN), as softmax and cross-entropy need after subtracting
    /// the max: the general <see cref="Exp"/> without the overflow handling. Same polynomial and
    /// reduction, so the same value for the same x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpNonPositive(Vector256<float> x)
    {
        var xc = MaxPropagateX(Vector256.Create(-87.33654f), x);
        // n = round(x·log2 e) by the 1.5·2^23 trick: t holds n in its low mantissa bits.
        var t = Fma(xc, Vector256.Create(1.44269504088896341f), Vector256.Create(Magic));
        var n = t - Vector256.Create(Magic);
        var r = Fma(n, Vector256.Create(-0.693359375f), xc);
        r = Fma(n, Vector256.Create(2.12194440e-4f), r);
        return Poly2(r) * Scale(t);
    }

    private const float Magic = 12582912f; // 1.5·2^23

    /// <summary>2·e^r on |r| ≤ ln2/2 (Cephes expf polynomial, doubled exactly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Poly2(Vector256<float> r)
    {
        // Estrin's scheme: a shorter dependency chain than Horner, which matters because these
        // kernels are latency-bound (every element is independent, the chain per vector is long).
        var r2 = r * r;
        var a = Fma(Vector256.Create(2 * 1.6666665459E-1f), r, Vector256.Create(2 * 5.0000001201E-1f));
        var b = Fma(Vector256.Create(2 * 8.3334519073E-3f), r, Vector256.Create(2 * 4.1665795894E-2f));
        var c = Fma(Vector256.Create(2 * 1.9875691500E-4f), r, Vector256.Create(2 * 1.3981999507E-3f));
        var p = Fma(Fma(c, r2, b), r2, a); // 2·p(r), e^r ≈ 1 + r + r²·p(r)
        return Fma(p, r2, Fma(r, Vector256.Create(2f), Vector256.Create(2f)));
    }

    /// <summary>2^(n−1) from t = 1.5·2^23 + n: the exponent field n + 126 built from t's low bits.
    /// With the doubled polynomial this gives 2^n, and n = 128 (x near ln FLT_MAX) still has a valid
    /// field; n = −126 gives field 0, i.e. 0, which is the intended flush.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scale(Vector256<float> t)
        => Vector256.ShiftLeft(t.AsInt32() + Vector256.Create(126), 23).AsSingle();

    /// <summary>e^(hi + lo) where hi + lo is an unevaluated sum (lo small beside hi): lo is added after
    /// the exact reduction of hi, so a large exact argument such as −x²/2 keeps full accuracy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpHiLo(Vector256<float> hi, Vector256<float> lo)
    {
        var x = hi + lo;
        var xc = MinPropagateX(Vector256.Create(88.72283f), MaxPropagateX(Vector256.Create(-87.33654f), x));
        var t = Fma(xc, Vector256.Create(1.44269504088896341f), Vector256.Create(Magic));
        var n = t - Vector256.Create(Magic);
        // hi − n·C1 is exact (C1 has 9 significant bits); lo joins after it. Where hi itself is out of
        // range (±inf) r no longer matters: the scale alone gives 0 or the +inf select below does.
        var hc = MinPropagateX(Vector256.Create(88.72283f), MaxPropagateX(Vector256.Create(-87.33654f), hi));
        var r = Fma(n, Vector256.Create(-0.693359375f), hc);
        r = Fma(n, Vector256.Create(2.12194440e-4f), r) + Vector256.ConditionalSelect(Vector256.Equals(hc, hi), lo, Vector256<float>.Zero);
        var e = Poly2(r) * Scale(t);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(88.7228394f)), Vector256.Create(float.PositiveInfinity), e);
    }

    private const double InvSqrt2Pi = 0.398942280401432678;

    /// <summary>The standard normal CDF Φ(x), relative error a few 1e-7 over the whole range.
    /// |x| &lt; 1: Φ = 1/2 + φ-series (Taylor of ∫φ, alternating, no cancellation). |x| ≥ 1:
    /// Φ(−|x|) = erfc(|x|/√2)/2 from the classic Chebyshev fit erfc(z) ≈ t·exp(−z² + P(t)),
    /// t = 1/(1 + z/2), relative error below 1.2e-7, with −z² = −x²/2 kept exact as a hi/lo pair;
    /// erfc keeps full relative accuracy in the far tail, which GELU needs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> NormalCdf(Vector256<float> x)
    {
        var a = Vector256.Abs(x);
        var t = TailT(a);
        var p = TailPoly(t);
        // a clamped to 20 (NaN kept): Φ(−20) and φ(20) are 0 in float already, and a² and its rounding
        // error a2lo stay small, so lo stays small beside hi in the exp below.
        var ac = MinPropagateX(Vector256.Create(20f), a);
        var a2 = ac * ac;
        var a2lo = Fma(ac, ac, -a2); // a² = a2 + a2lo exactly
        var tail = Vector256.Create(0.5f) * t * ExpHiLoNonPositive(a2 * Vector256.Create(-0.5f), Fma(a2lo, Vector256.Create(-0.5f), p)); // Φ(−|x|)
        return Combine(x, a, a2, tail);
    }

    /// <summary>Φ(x) and the density φ(x) = e^{−x²/2}/√(2π) together (GELU's backward), sharing e^{−x²/2}.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> NormalCdfPdf(Vector256<float> x, out Vector256<float> pdf)
    {
        var a = Vector256.Abs(x);
        var ac = MinPropagateX(Vector256.Create(20f), a);
        var a2 = ac * ac;
        var g = ExpHiLoNonPositive(a2 * Vector256.Create(-0.5f), Fma(ac, ac, -a2) * Vector256.Create(-0.5f)); // e^{−x²/2}
        pdf = g * Vector256.Create((float)InvSqrt2Pi);
        var t = TailT(a);
        var tail = Vector256.Create(0.5f) * t * g * ExpNonPositive(TailPoly(t)); // P(t) ≤ ~0 on t ∈ (0, 1]
        return Combine(x, a, a2, tail);
    }

    /// <summary>e^(hi + lo) for hi ≤ 0 and |lo| ≲ 2 (both finite, or NaN): the lean form of
    /// <see cref="ExpHiLo"/> with no overflow handling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpHiLoNonPositive(Vector256<float> hi, Vector256<float> lo)
    {
        var lim = Vector256.Create(-87.33654f);
        var t = Fma(MaxPropagateX(lim, hi + lo), Vector256.Create(1.44269504088896341f), Vector256.Create(Magic));
        var n = t - Vector256.Create(Magic);
        // Where hi is below the clamp the scale is 0 and r only has to stay finite.
        var r = Fma(n, Vector256.Create(-0.693359375f), MaxPropagateX(lim, hi));
        r = Fma(n, Vector256.Create(2.12194440e-4f), r) + lo;
        return Poly2(r) * Scale(t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TailT(Vector256<float> a)
        => Vector256<float>.One / Fma(a, Vector256.Create(0.5f * 0.70710678118654752f), Vector256<float>.One); // 1/(1 + z/2), z = |x|/√2

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TailPoly(Vector256<float> t)
    {
        // P(t) = Σ a_k t^k, k = 0..9, by Estrin's scheme (depth 4 instead of 9).
        var t2 = t * t;
        var t4 = t2 * t2;
        var q01 = Fma(Vector256.Create(1.00002368f), t, Vector256.Create(-1.26551223f));
        var q23 = Fma(Vector256.Create(0.09678418f), t, Vector256.Create(0.37409196f));
        var q45 = Fma(Vector256.Create(0.27886807f), t, Vector256.Create(-0.18628806f));
        var q67 = Fma(Vector256.Create(1.48851587f), t, Vector256.Create(-1.13520398f));
        var q89 = Fma(Vector256.Create(0.17087277f), t, Vector256.Create(-0.82215223f));
        var lo = Fma(q23, t2, q01);
        var hi = Fma(Fma(q89, t2, q67), t2, q45);
        return Fma(hi, t4, lo);
    }

    /// <summary>Picks the series for |x| &lt; 1, else the tail value Φ(−|x|) reflected for x &gt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Combine(Vector256<float> x, Vector256<float> a, Vector256<float> a2, Vector256<float> tail)
    {
        var far = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), Vector256<float>.One - tail, tail);
        // Series form: Φ(x) = 1/2 + x·S(x²), S = Σ c_n (x²)^n, c_n = (−1)^n / (√(2π)·2^n·n!·(2n+1));
        // Horner below accumulates s = −S.
        // Estrin's scheme in u = x² (depth 4 instead of 9).
        var u = a2;
        var u2 = u * u;
        var u4 = u2 * u2;
        var q01 = Fma(Vector256.Create((float)(InvSqrt2Pi / (2.0 * 1 * 3))), u, Vector256.Create((float)(-InvSqrt2Pi)));
        var q23 = Fma(Vector256.Create((float)(InvSqrt2Pi / (8.0 * 6 * 7))), u, Vector256.Create((float)(-InvSqrt2Pi / (4.0 * 2 * 5))));
        var q45 = Fma(Vector256.Create((float)(InvSqrt2Pi / (32.0 * 120 * 11))), u, Vector256.Create((float)(-InvSqrt2Pi / (16.0 * 24 * 9))));
        var q67 = Fma(Vector256.Create((float)(InvSqrt2Pi / (128.0 * 5040 * 15))), u, Vector256.Create((float)(-InvSqrt2Pi / (64.0 * 720 * 13))));
        var q89 = Fma(Vector256.Create((float)(InvSqrt2Pi / (512.0 * 362880 * 19))), u, Vector256.Create((float)(-InvSqrt2Pi / (256.0 * 40320 * 17))));
        var s = Fma(Fma(Fma(q89, u2, q67), u2, q45), u4, Fma(q23, u2, q01));
        var near = Fma(x, -s, Vector256.Create(0.5f));
        // NaN compares false and takes the tail branch, which is NaN.
        return Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256<float>.One), near, far);
    }

    /// <summary>tanh(x), a few 1e-8 relative: odd Taylor polynomial for |x| &lt; 0.5, else
    /// sign(x)·(1 − 2/(1 + e^{2|x|})), which saturates cleanly to ±1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var a = Vector256.Abs(x);
        var big = Vector256<float>.One - Vector256.Create(2f) / (Vector256<float>.One + Exp(a + a));
        big = Vector256.ConditionalSelect(Vector256.Create(-0f), x, big); // copy the sign of x (NaN stays NaN)
        var x2 = x * x;
        var s = Vector256.Create((float)(6404582.0 / 10854718875.0));
        s = Fma(s, x2, Vector256.Create((float)(-929569.0 / 638512875.0)));
        s = Fma(s, x2, Vector256.Create((float)(21844.0 / 6081075.0)));
        s = Fma(s, x2, Vector256.Create((float)(-1382.0 / 155925.0)));
        s = Fma(s, x2, Vector256.Create((float)(62.0 / 2835.0)));
        s = Fma(s, x2, Vector256.Create((float)(-17.0 / 315.0)));
        s = Fma(s, x2, Vector256.Create((float)(2.0 / 15.0)));
        s = Fma(s, x2, Vector256.Create((float)(-1.0 / 3.0)));
        var small = Fma(x * x2, s, x);
        return Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(0.5f)), small, big);
    }
}
