using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class SoftTargetLossTests
{
    // Plain float64 twins: p = softmax(t/T), q = softmax(s/T), loss = w·T²·Σ p (log p − log q) (terms with p = 0 left
    // out), grad = scale·w·T·(q − p).
    private static double[] LogSoftmax(double[] x, int o, int n, double temperature)
    {
        double mx = double.NegativeInfinity;
        for (int i = 0; i < n; i++) mx = Math.Max(mx, x[o + i] / temperature);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.Exp(x[o + i] / temperature - mx);
        double lse = mx + Math.Log(s);
        var l = new double[n];
        for (int i = 0; i < n; i++) l[i] = x[o + i] / temperature - lse;
        return l;
    }

    internal static double[] RefLosses(double[] s, double[] t, double[] w, int rows, int cols, double temperature)
    {
        var loss = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            if (w[r] == 0) continue;
            double[] lq = LogSoftmax(s, r * cols, cols, temperature), lp = LogSoftmax(t, r * cols, cols, temperature);
            double kl = 0;
            for (int c = 0; c < cols; c++)
            {
                double p = Math.Exp(lp[c]);
                if (p != 0) kl += p * (lp[c] - lq[c]);
            }
            loss[r] = w[r] * temperature * temperature * kl;
        }
        return loss;
    }

    internal static double[] RefGrad(double[] s, double[] t, double[] w, int rows, int cols, double temperature, double scale)
    {
        var g = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            if (w[r] == 0) continue;
            double[] lq = LogSoftmax(s, r * cols, cols, temperature), lp = LogSoftmax(t, r * cols, cols, temperature);
            for (int c = 0; c < cols; c++) g[r * cols + c] = scale * w[r] * temperature * (Math.Exp(lq[c]) - Math.Exp(lp[c]));
        }
        return g;
    }

    // Weights with zeros (left-out rows) and non-unit values.
    private static float[] Weights(int rows) => Enumerable.Range(0, rows).Select(r => r % 3 == 1 ? 0f : 0.5f + r % 4).ToArray();

    public static IEnumerable<object[]> Shapes()
    {
        foreach (int cols in new[] { 1, 2, 3, 17, 1000, 30522 })
            foreach (float temperature in new[] { 0.5f, 1f, 2f, 4f })
                yield return new object[] { cols >= 30522 ? 4 : 7, cols, temperature };
        yield return new object[] { 5, 2049, 3f }; // blocks of 2048 and a one-element block; a temperature that is no power of two
    }

    // The float32 result's error: that of the terms KL is made of, (t − s)/T and the log-sum-exps, each about 1e-6
    // relative; so the tolerance is relative to w·T²·(1 + max|logit|/T).
    private static double LossTolerance(double w, double temperature, double maxLogit)
        => 2e-6 * w * temperature * temperature * (1 + maxLogit / temperature);

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardMatchesReference(int rows, int cols, float temperature)
    {
        var s = KT.Random(rows * cols, cols + 1, -6f, 6f); var t = KT.Random(rows * cols, cols + 2, -6f, 6f); var w = Weights(rows);
        var losses = KT.Random(rows, 3); // overwritten
        SoftTargetLoss.Forward(s, t, w, rows, cols, temperature, losses);
        var want = RefLosses(KT.D(s), KT.D(t), KT.D(w), rows, cols, temperature);
        for (int r = 0; r < rows; r++)
        {
            if (w[r] == 0) Assert.Equal(0f, losses[r]);
            Assert.True(Math.Abs(losses[r] - want[r]) <= 1e-5 * Math.Abs(want[r]) + LossTolerance(w[r], temperature, 6),
                $"row {r}: {losses[r]:R}, float64 {want[r]:R}");
        }
        if (cols > 1) Assert.Contains(want, l => l > 0.01); // the rows left in carry a real loss (one class: KL = 0)
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardMatchesReference(int rows, int cols, float temperature)
    {
        var s = KT.Random(rows * cols, cols + 3, -6f, 6f); var t = KT.Random(rows * cols, cols + 4, -6f, 6f); var w = Weights(rows);
        const float scale = 0.75f;
        var d = KT.Random(rows * cols, 5); // overwritten, zero rows included
        SoftTargetLoss.Backward(s, t, w, rows, cols, temperature, scale, d, accumulate: false);
        var want = RefGrad(KT.D(s), KT.D(t), KT.D(w), rows, cols, temperature, scale);
        // q and p are each within ~1e-7 of their float64 values (observed ≤ 1.2e-7·scale·w·T).
        KT.Close(want, d, 1e-5, 5e-7 * scale * 3.5 * temperature, $"dstudent T={temperature}");
        for (int r = 0; r < rows; r++)
            if (w[r] == 0) Assert.All(d.AsSpan(r * cols, cols).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AccumulateAddsToDstudentAndLeavesZeroWeightRowsAlone()
    {
        int rows = 6, cols = 1003;
        var s = KT.Random(rows * cols, 10, -5f, 5f); var t = KT.Random(rows * cols, 11, -5f, 5f); var w = Weights(rows);
        var g = new float[rows * cols];
        SoftTargetLoss.Backward(s, t, w, rows, cols, 2f, 0.5f, g, accumulate: false);
        var prev = KT.Random(rows * cols, 12);
        var acc = (float[])prev.Clone();
        SoftTargetLoss.Backward(s, t, w, rows, cols, 2f, 0.5f, acc, accumulate: true);
        for (int i = 0; i < acc.Length; i++)
            Assert.Equal(w[i / cols] == 0 ? prev[i] : prev[i] + g[i], acc[i]);
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        foreach (float temperature in new[] { 0.5f, 1f, 2f, 4f })
        {
            int rows = 3, cols = 9;
            var s = KT.D(KT.Random(rows * cols, 20, -3f, 3f)); var t = KT.D(KT.Random(rows * cols, 21, -3f, 3f));
            var w = new double[] { 0.7, 0, 1.3 };
            const double scale = 0.5;
            var fd = KT.FiniteDiff(v => RefLosses(v, t, w, rows, cols, temperature), s, Enumerable.Repeat(scale, rows).ToArray());
            KT.Close(fd, RefGrad(s, t, w, rows, cols, temperature, scale), 1e-6, 1e-8, $"reference T={temperature}");
            var d = new float[rows * cols];
            SoftTargetLoss.Backward(Array.ConvertAll(s, v => (float)v), Array.ConvertAll(t, v => (float)v), Array.ConvertAll(w, v => (float)v),
                rows, cols, temperature, (float)scale, d, accumulate: false);
            KT.Close(fd, d, 1e-5, 1e-6, $"kernel T={temperature}");
        }
    }

    // Logits of ±80 at T = 0.5: scaled differences of 320, most probabilities underflow to exactly 0.
    [Fact]
    public void LargeLogitsAreStable()
    {
        int rows = 5, cols = 1001;
        var s = KT.Random(rows * cols, 30, -80f, 80f); var t = KT.Random(rows * cols, 31, -80f, 80f); var w = Weights(rows);
        foreach (float temperature in new[] { 0.5f, 1f, 2f, 4f })
        {
            var losses = new float[rows];
            SoftTargetLoss.Forward(s, t, w, rows, cols, temperature, losses);
            var want = RefLosses(KT.D(s), KT.D(t), KT.D(w), rows, cols, temperature);
            for (int r = 0; r < rows; r++)
            {
                Assert.True(float.IsFinite(losses[r]), $"T={temperature} row {r}: {losses[r]}");
                Assert.True(Math.Abs(losses[r] - want[r]) <= 1e-5 * Math.Abs(want[r]) + LossTolerance(w[r], temperature, 80),
                    $"T={temperature} row {r}: {losses[r]:R}, float64 {want[r]:R}");
            }
            var d = new float[rows * cols];
            SoftTargetLoss.Backward(s, t, w, rows, cols, temperature, 1f, d, accumulate: false);
            Assert.All(d, v => Assert.True(float.IsFinite(v)));
            KT.Close(RefGrad(KT.D(s), KT.D(t), KT.D(w), rows, cols, temperature, 1), d, 1e-5, 5e-7 * 3.5 * temperature, $"dstudent T={temperature}");
        }
    }

    // The same logits give exactly 0: both distributions are computed by the same code on the same values.
    [Fact]
    public void TeacherEqualToStudentGivesZeroLossAndGradient()
    {
        foreach (int cols in new[] { 1, 17, 30522 })
        {
            int rows = 3;
            var x = KT.Random(rows * cols, cols, -40f, 40f); var w = new[] { 1f, 2.5f, 0f };
            foreach (float temperature in new[] { 0.5f, 1f, 2f, 4f })
            {
                var losses = KT.Random(rows, 40);
                SoftTargetLoss.Forward(x, (float[])x.Clone(), w, rows, cols, temperature, losses);
                Assert.Equal(new float[rows], losses);
                var d = KT.Random(rows * cols, 41);
                SoftTargetLoss.Backward(x, (float[])x.Clone(), w, rows, cols, temperature, 3f, d, accumulate: false);
                Assert.All(d, v => Assert.Equal(0f, v));
            }
        }
    }

    // A teacher probability of exactly 0 (a −inf logit: a masked-out class) contributes 0, even where the student's
    // logit is −inf too; a student −inf where the teacher has mass makes the loss +inf.
    [Fact]
    public void ZeroTeacherProbabilitiesContributeNothing()
    {
        int rows = 2, cols = 37;
        var s = KT.Random(rows * cols, 50, -3f, 3f); var t = KT.Random(rows * cols, 51, -3f, 3f); var w = new[] { 1f, 1f };
        for (int c = 0; c < cols; c += 4) t[c] = float.NegativeInfinity;
        s[8] = float.NegativeInfinity; // teacher −inf there too
        var losses = new float[rows];
        SoftTargetLoss.Forward(s, t, w, rows, cols, 2f, losses);
        var sd = KT.D(s); sd[8] = -1e300; // the float64 twin skips p = 0 terms; only the student's log q[8] must stay finite
        var want = RefLosses(sd, KT.D(t), KT.D(w), rows, cols, 2);
        KT.Close(want, losses, 1e-5, 1e-6, "loss");
        var d = new float[rows * cols];
        SoftTargetLoss.Backward(s, t, w, rows, cols, 2f, 1f, d, accumulate: false);
        Assert.Equal(0f, d[8]); // q = p = 0
        KT.Close(RefGrad(sd, KT.D(t), KT.D(w), rows, cols, 2, 1), d, 1e-5, 1e-7, "dstudent");
        s[cols + 1] = float.NegativeInfinity; // teacher has mass there
        SoftTargetLoss.Forward(s, t, w, rows, cols, 2f, losses);
        Assert.Equal(float.PositiveInfinity, losses[1]);
        t[5] = float.NaN;
        SoftTargetLoss.Forward(s, t, w, rows, cols, 2f, losses);
        Assert.True(float.IsNaN(losses[0]));
        w[0] = 0f; // a left-out row is not read
        SoftTargetLoss.Forward(s, t, w, rows, cols, 2f, losses);
        Assert.Equal(0f, losses[0]);
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        foreach (var (rows, cols) in new[] { (130, 1000), (11, 30522) })
        {
            var s = KT.Random(rows * cols, rows, -8f, 8f); var t = KT.Random(rows * cols, rows + 1, -8f, 8f); var w = Weights(rows);
            KT.SameBitsForThreadCounts(() =>
            {
                var l = new float[rows]; var d = new float[rows * cols]; var acc = KT.Random(rows * cols, 3);
                SoftTargetLoss.Forward(s, t, w, rows, cols, 2f, l);
                SoftTargetLoss.Backward(s, t, w, rows, cols, 2f, 1f / rows, d, accumulate: false);
                SoftTargetLoss.Backward(s, t, w, rows, cols, 2f, 1f / rows, acc, accumulate: true);
                return l.Concat(d).Concat(acc).ToArray();
            });
        }
    }

    // The device forwards to the kernel (bitwise) and takes Float32 logits only.
    [Fact]
    public void DeviceRunsTheKernel()
    {
        int rows = 4, cols = 301, n = rows * cols;
        var dev = Device.Cpu;
        var s = KT.Random(n, 60, -4f, 4f); var t = KT.Random(n, 61, -4f, 4f); var w = Weights(rows);
        using var ts = dev.Allocate(DType.Float32, rows, cols); using var tt = dev.Allocate(DType.Float32, rows, cols);
        using var tw = dev.Allocate(DType.Float32, rows); using var tl = dev.Allocate(DType.Float32, rows);
        using var td = dev.Allocate(DType.Float32, rows, cols); using var th = dev.Allocate(DType.BFloat16, rows, cols);
        dev.CopyToDevice<float>(s, ts); dev.CopyToDevice<float>(t, tt); dev.CopyToDevice<float>(w, tw);
        dev.SoftTargetForward(ts, tt, tw, rows, cols, 2f, tl);
        var want = new float[rows];
        SoftTargetLoss.Forward(s, t, w, rows, cols, 2f, want);
        Assert.Equal(want, dev.ToArray(tl));
        dev.SoftTargetBackward(ts, tt, tw, rows, cols, 2f, 0.5f, td, accumulate: false);
        var wd = new float[n];
        SoftTargetLoss.Backward(s, t, w, rows, cols, 2f, 0.5f, wd, accumulate: false);
        Assert.Equal(wd, dev.ToArray(td));
        KT.Throws<ArgumentException>(() => dev.SoftTargetForward(th, tt, tw, rows, cols, 2f, tl), "student", "BFloat16");
        KT.Throws<ArgumentException>(() => dev.SoftTargetBackward(ts, tt, tw, rows, cols, 2f, 1f, th, false), "dstudent", "BFloat16");
        KT.Throws<ArgumentException>(() => dev.SoftTargetBackward(ts, tt, tw, rows, cols, 2f, 1f, ts, false), "dstudent", "overlap");
        Assert.Equal("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => dev.SoftTargetForward(ts, tt, tw, rows, cols, 0f, tl)).ParamName);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var x = new float[12]; var w = new float[3]; var l = new float[3];
        foreach (float bad in new[] { 0f, -1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => SoftTargetLoss.Forward(x, x, w, 3, 4, bad, l));
            Assert.Equal("temperature", e.ParamName);
            e = Assert.Throws<ArgumentOutOfRangeException>(() => SoftTargetLoss.Backward(x, x, w, 3, 4, bad, 1f, new float[12], false));
            Assert.Equal("temperature", e.ParamName);
        }
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Forward(new float[11], x, w, 3, 4, 1f, l), "student", "12", "11");
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Forward(x, new float[10], w, 3, 4, 1f, l), "teacher", "12", "10");
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Forward(x, x, new float[2], 3, 4, 1f, l), "weights", "3", "2");
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Forward(x, x, w, 3, 4, 1f, new float[2]), "losses", "3", "2");
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Backward(x, x, w, 3, 4, 1f, 1f, new float[11], false), "dstudent", "12", "11");
        var big = new float[24];
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Backward(big.AsSpan(0, 12), x, w, 3, 4, 1f, 1f, big.AsSpan(6, 12), false), "dstudent", "overlap");
        KT.Throws<ArgumentException>(() => SoftTargetLoss.Backward(x, big.AsSpan(11, 12), w, 3, 4, 1f, 1f, big.AsSpan(0, 12), false), "dstudent", "overlap");
        SoftTargetLoss.Backward(big.AsSpan(0, 12), x, w, 3, 4, 1f, 1f, big.AsSpan(12, 12), false); // adjacent, not overlapping
        KT.Throws<ArgumentOutOfRangeException>(() => SoftTargetLoss.Forward(x, x, w, 3, 0, 1f, l), "cols");
        KT.Throws<ArgumentOutOfRangeException>(() => SoftTargetLoss.Forward(x, x, w, -1, 4, 1f, l), "rows");
        SoftTargetLoss.Forward(x, x, w, 0, 4, 1f, default); // no rows: nothing to do
    }
}
