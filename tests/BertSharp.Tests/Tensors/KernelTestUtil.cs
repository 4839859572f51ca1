using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

/// <summary>Tests that change <see cref="KernelParallel.ThreadCount"/> run in this collection, one at a
/// time, so that a "1 vs 2 vs 5 threads" comparison really uses those counts.</summary>
[CollectionDefinition("KernelThreads", DisableParallelization = true)]
public class KernelThreadsCollection { }

internal static class KT
{
    public static readonly int[] AwkwardSizes = { 1, 3, 7, 17, 33, 65, 127, 130 };

    public static float[] Random(int n, int seed, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float)rng.NextDouble();
        return a;
    }

    public static double[] D(float[] a) => Array.ConvertAll(a, v => (double)v);

    /// <summary>bfloat16 storage for a bf16 kernel test: the values rounded to bf16 (their bits), so a float64 reference
    /// computed on <see cref="Widen"/>(bits) sees exactly the inputs the kernel sees.</summary>
    public static ushort[] Bf16(float[] a)
    {
        var h = new ushort[a.Length];
        BFloat16.FromSingle(a, h);
        return h;
    }

    /// <summary>bf16 bits → float32 (exact).</summary>
    public static float[] Widen(ushort[] h)
    {
        var a = new float[h.Length];
        BFloat16.ToSingle(h, a);
        return a;
    }

    /// <summary>The relative tolerance of a bf16 output that was computed in float32 and rounded once: half a bf16 ulp
    /// (2⁻⁸) plus the float32 kernel's own error.</summary>
    public const double Bf16Rtol = 1.0 / 256 + 1e-5;

    /// <summary>|actual − expected| ≤ atol + rtol·|expected| element-wise, with NaN only where expected is NaN.</summary>
    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double rtol, double atol, string what = "")
    {
        Assert.True(actual.Length >= expected.Length, $"{what}: length {actual.Length} < {expected.Length}");
        double worst = 0; int worstAt = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) || double.IsNaN(a))
            {
                Assert.True(double.IsNaN(e) && double.IsNaN(a), $"{what}[{i}]: expected {e}, got {a}");
                continue;
            }
            if (double.IsInfinity(e) || double.IsInfinity(a))
            {
                Assert.True(e == a, $"{what}[{i}]: expected {e}, got {a}");
                continue;
            }
            double excess = Math.Abs(a - e) - (atol + rtol * Math.Abs(e));
            if (excess > worst) { worst = excess; worstAt = i; }
        }
        Assert.True(worstAt < 0, worstAt < 0 ? "" : $"{what}[{worstAt}]: expected {expected[worstAt]:R}, got {actual[worstAt]:R} (n={expected.Length})");
    }

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double rtol, double atol, string what = "")
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            Assert.True(Math.Abs(a - e) <= atol + rtol * Math.Abs(e), $"{what}[{i}]: expected {e:R}, got {a:R}");
        }
    }

    /// <summary>Runs <paramref name="run"/> with each thread count and asserts the outputs are bitwise equal.</summary>
    public static void SameBitsForThreadCounts(Func<float[]> run, params int[] counts)
    {
        if (counts.Length == 0) counts = new[] { 1, 2, 5 };
        int saved = KernelParallel.ThreadCount;
        try
        {
            float[]? first = null;
            foreach (int t in counts)
            {
                KernelParallel.ThreadCount = t;
                var r = run();
                if (first is null) { first = r; continue; }
                Assert.Equal(first.Length, r.Length);
                for (int i = 0; i < r.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(first[i]) == BitConverter.SingleToInt32Bits(r[i]),
                        $"threads {t}: element {i} is {r[i]:R}, with {counts[0]} threads {first[i]:R}");
            }
        }
        finally { KernelParallel.ThreadCount = saved; }
    }

    /// <summary>Central finite differences of L(x) = Σ w·f(x) in float64.</summary>
    public static double[] FiniteDiff(Func<double[], double[]> f, double[] x, double[] w, double h = 1e-6)
    {
        var g = new double[x.Length];
        var xp = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            double keep = xp[i];
            xp[i] = keep + h; double lp = Dot(f(xp), w);
            xp[i] = keep - h; double lm = Dot(f(xp), w);
            xp[i] = keep;
            g[i] = (lp - lm) / (2 * h);
        }
        return g;
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static void Throws<T>(Action a, params string[] mustContain) where T : Exception
    {
        var ex = Assert.ThrowsAny<T>(a);
        foreach (var s in mustContain) Assert.Contains(s, ex.Message);
    }
}

/// <summary>Plain float64 reference twins of the kernels (straightforward loops, no tricks).</summary>
internal static class Ref
{
    /// <summary>erf in double: Taylor series for |x| < 3, continued fraction for erfc beyond.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        double ax = Math.Abs(x);
        if (ax < 3)
        {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            return Math.Sign(x) * sum * 2 / Math.Sqrt(Math.PI);
        }
        return Math.Sign(x) * (1 - ErfcLarge(ax));
    }

    /// <summary>erfc for x ≥ 3 by the continued fraction erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).</summary>
    public static double ErfcLarge(double x)
    {
        double f = x;
        for (int k = 80; k >= 1; k--) f = x + (k / 2.0) / f;
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>Φ(x), accurate in both tails.</summary>
    public static double NormalCdf(double x)
    {
        double z = x / Math.Sqrt(2);
        if (z < -3) return 0.5 * ErfcLarge(-z);
        return 0.5 * (1 + Erf(z));
    }

    public static double Gelu(double x) => x * NormalCdf(x);
    public static double GeluGrad(double x) => NormalCdf(x) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI);
    // 0.5·x·(1 + tanh u) written as x/(1 + e^{−2u}) so the reference itself does not cancel in the left tail.
    public static double GeluTanh(double x) => x / (1 + Math.Exp(-2 * Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    public static double GeluTanhGrad(double x)
    {
        double c = Math.Sqrt(2 / Math.PI), u = c * (x + 0.044715 * x * x * x), t = Math.Tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }

    public static double[] LayerNorm(double[] x, int rows, int cols, double[] g, double[] b, double eps, double[]? mean = null, double[]? rstd = null)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0;
            for (int c = 0; c < cols; c++) mu += x[r * cols + c];
            mu /= cols;
            double v = 0;
            for (int c = 0; c < cols; c++) v += (x[r * cols + c] - mu) * (x[r * cols + c] - mu);
            v /= cols;
            double rs = 1 / Math.Sqrt(v + eps);
            if (mean != null) mean[r] = mu;
            if (rstd != null) rstd[r] = rs;
            for (int c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c] - mu) * rs * g[c] + b[c];
        }
        return y;
    }

    public static void LayerNormBackward(double[] dy, double[] x, int rows, int cols, double[] g, double eps,
        double[] dx, double[] dg, double[] db)
    {
        var mean = new double[rows]; var rstd = new double[rows];
        LayerNorm(x, rows, cols, g, new double[cols], eps, mean, rstd);
        for (int r = 0; r < rows; r++)
        {
            double s1 = 0, s2 = 0;
            for (int c = 0; c < cols; c++)
            {
                double h = (x[r * cols + c] - mean[r]) * rstd[r], gg = dy[r * cols + c] * g[c];
                s1 += gg; s2 += gg * h;
                dg[c] += dy[r * cols + c] * h; db[c] += dy[r * cols + c];
            }
            for (int c = 0; c < cols; c++)
            {
                double h = (x[r * cols + c] - mean[r]) * rstd[r];
                dx[r * cols + c] = rstd[r] * (dy[r * cols + c] * g[c] - s1 / cols - h * s2 / cols);
            }
        }
    }

    public static double[] Softmax(double[] x, int batch, int rowsPerBatch, int cols, double scale, double[]? mask)
    {
        var y = new double[x.Length];
        for (int r = 0; r < batch * rowsPerBatch; r++)
        {
            int b = r / rowsPerBatch;
            double mx = double.NegativeInfinity;
            var z = new double[cols];
            for (int c = 0; c < cols; c++)
            {
                z[c] = scale * x[r * cols + c] + (mask == null ? 0 : mask[b * cols + c]);
                mx = Math.Max(mx, z[c]);
            }
            double s = 0;
            for (int c = 0; c < cols; c++) s += Math.Exp(z[c] - mx);
            for (int c = 0; c < cols; c++) y[r * cols + c] = Math.Exp(z[c] - mx) / s;
        }
        return y;
    }

    public static double[] SoftmaxBackward(double[] y, double[] dy, int rows, int cols, double scale)
    {
        var dx = new double[y.Length];
        for (int r = 0; r < rows; r++)
        {
            double dot = 0;
            for (int c = 0; c < cols; c++) dot += y[r * cols + c] * dy[r * cols + c];
            for (int c = 0; c < cols; c++) dx[r * cols + c] = scale * y[r * cols + c] * (dy[r * cols + c] - dot);
        }
        return dx;
    }

    public static double LogSumExp(double[] x, int offset, int n)
    {
        double mx = double.NegativeInfinity;
        for (int i = 0; i < n; i++) mx = Math.Max(mx, x[offset + i]);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.Exp(x[offset + i] - mx);
        return mx + Math.Log(s);
    }

    public static double[] CrossEntropyLosses(double[] logits, int rows, int cols, int[] targets, int ignore)
    {
        var l = new double[rows];
        for (int r = 0; r < rows; r++)
            l[r] = targets[r] == ignore ? 0 : LogSumExp(logits, r * cols, cols) - logits[r * cols + targets[r]];
        return l;
    }

    public static double[] CrossEntropyGrad(double[] logits, int rows, int cols, int[] targets, int ignore, double scale)
    {
        var d = new double[logits.Length];
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == ignore) continue;
            double lse = LogSumExp(logits, r * cols, cols);
            for (int c = 0; c < cols; c++) d[r * cols + c] = scale * (Math.Exp(logits[r * cols + c] - lse) - (c == targets[r] ? 1 : 0));
        }
        return d;
    }
}
