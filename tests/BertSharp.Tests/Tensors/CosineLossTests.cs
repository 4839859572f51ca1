using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class CosineLossTests
{
    private const double Eps = 1e-8;

    // Plain float64 twins: cos = a·b / max(‖a‖‖b‖, 1e-8), loss = w·(1 − cos); the gradient with respect to a (b a
    // constant) is −w·(b/D − cos·a/‖a‖²) where D = ‖a‖‖b‖ ≥ 1e-8, and −w·b/1e-8 where the floor is taken.
    internal static double[] RefLosses(double[] a, double[] b, double[] w, int rows, int cols)
    {
        var loss = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            if (w[r] == 0) continue;
            var (dot, aa, bb) = Sums(a, b, r * cols, cols);
            loss[r] = w[r] * (1 - dot / Math.Max(Math.Sqrt(aa) * Math.Sqrt(bb), Eps));
        }
        return loss;
    }

    internal static double[] RefGrad(double[] a, double[] b, double[] w, int rows, int cols, double scale)
    {
        var g = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            if (w[r] == 0) continue;
            var (dot, aa, bb) = Sums(a, b, r * cols, cols);
            double norms = Math.Sqrt(aa) * Math.Sqrt(bb), denom = Math.Max(norms, Eps), cos = dot / denom;
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                g[i] = -scale * w[r] * (b[i] / denom - (norms >= Eps ? cos * a[i] / aa : 0));
            }
        }
        return g;
    }

    private static (double Dot, double AA, double BB) Sums(double[] a, double[] b, int o, int n)
    {
        double dot = 0, aa = 0, bb = 0;
        for (int i = o; i < o + n; i++) { dot += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return (dot, aa, bb);
    }

    private static float[] Weights(int rows) => Enumerable.Range(0, rows).Select(r => r % 3 == 1 ? 0f : 0.5f + r % 4).ToArray();

    public static IEnumerable<object[]> Shapes()
    {
        foreach (int c in new[] { 1, 2, 3, 17, 33, 127, 130, 1000 }) yield return new object[] { 7, c };
        yield return new object[] { 33, 768 };
        yield return new object[] { 4, 30522 };
    }

    // Student near the teacher (cos ≈ 0.9, as after some distillation) and unrelated (cos ≈ 0).
    private static (float[] A, float[] B) Inputs(int rows, int cols, int seed)
    {
        var b = KT.Random(rows * cols, seed, -2f, 2f); var noise = KT.Random(rows * cols, seed + 1, -1f, 1f);
        var a = new float[rows * cols];
        for (int i = 0; i < a.Length; i++) a[i] = (i / cols) % 2 == 0 ? 1.5f * b[i] + 0.5f * noise[i] : 3f * noise[i];
        return (a, b);
    }

    // The error of cos relative to its terms: float32 products and sums within blocks of 512 (~1e-7), double beyond.
    private static double Tol(int cols) => 5e-7 + 2e-9 * Math.Sqrt(cols);

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardMatchesReference(int rows, int cols)
    {
        var (a, b) = Inputs(rows, cols, cols); var w = Weights(rows);
        var losses = KT.Random(rows, 3);
        CosineLoss.Forward(a, b, w, rows, cols, losses);
        KT.Close(RefLosses(KT.D(a), KT.D(b), KT.D(w), rows, cols), losses, 0, 3.5 * Tol(cols), "loss");
        for (int r = 0; r < rows; r++) if (w[r] == 0) Assert.Equal(0f, losses[r]);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardMatchesReference(int rows, int cols)
    {
        var (a, b) = Inputs(rows, cols, cols + 7); var w = Weights(rows);
        var d = KT.Random(rows * cols, 4);
        CosineLoss.Backward(a, b, w, rows, cols, 0.75f, d, accumulate: false);
        var want = RefGrad(KT.D(a), KT.D(b), KT.D(w), rows, cols, 0.75);
        KT.Close(want, d, 1e-5, TermScale(a, b, w, rows, cols, 0.75) * Tol(cols), "da");
        for (int r = 0; r < rows; r++)
            if (w[r] == 0) Assert.All(d.AsSpan(r * cols, cols).ToArray(), v => Assert.Equal(0f, v));
    }

    // The size of the two terms the gradient is the difference of, scale·w·(|b|/‖a‖‖b‖ + |cos·a|/‖a‖²), the largest over
    // the rows: the scale of its rounding error (the difference itself may be 0, as it is for cols = 1).
    private static double TermScale(float[] a, float[] b, float[] w, int rows, int cols, double scale)
    {
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            if (w[r] == 0) continue;
            var (dot, aa, bb) = Sums(KT.D(a), KT.D(b), r * cols, cols);
            double denom = Math.Max(Math.Sqrt(aa) * Math.Sqrt(bb), Eps), cos = dot / denom;
            for (int i = r * cols; i < (r + 1) * cols; i++)
                worst = Math.Max(worst, Math.Abs(scale * w[r]) * (Math.Abs(b[i]) / denom + Math.Abs(cos * a[i]) / aa));
        }
        return worst;
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int rows = 4, cols = 13;
        var (af, bf) = Inputs(rows, cols, 10);
        var a = KT.D(af); var b = KT.D(bf); var w = new double[] { 0.7, 0, 1.3, 2 };
        const double scale = 0.5;
        var combine = Enumerable.Repeat(scale, rows).ToArray();
        var fd = KT.FiniteDiff(v => RefLosses(v, b, w, rows, cols), a, combine);
        KT.Close(fd, RefGrad(a, b, w, rows, cols, scale), 1e-6, 1e-8, "reference");
        var d = new float[rows * cols];
        CosineLoss.Backward(af, bf, Array.ConvertAll(w, v => (float)v), rows, cols, (float)scale, d, accumulate: false);
        KT.Close(fd, d, 1e-4, 1e-6, "kernel");
        // Below the floor (‖a‖‖b‖ < 1e-8) cos = a·b/1e-8 is linear in a: its finite differences are the b/1e-8 term alone.
        var tiny = Array.ConvertAll(a, v => v * 1e-5); var tb = Array.ConvertAll(b, v => v * 1e-5);
        var fdt = KT.FiniteDiff(v => RefLosses(v, tb, w, rows, cols), tiny, combine, h: 1e-9);
        KT.Close(fdt, RefGrad(tiny, tb, w, rows, cols, scale), 1e-6, 1e-6, "reference below the floor");
        CosineLoss.Backward(Array.ConvertAll(tiny, v => (float)v), Array.ConvertAll(tb, v => (float)v), Array.ConvertAll(w, v => (float)v),
            rows, cols, (float)scale, d, accumulate: false);
        KT.Close(fdt, d, 1e-5, 1e-3, "kernel below the floor");
    }

    [Fact]
    public void AccumulateAddsToDaAndLeavesZeroWeightRowsAlone()
    {
        int rows = 6, cols = 301;
        var (a, b) = Inputs(rows, cols, 20); var w = Weights(rows);
        var g = new float[rows * cols];
        CosineLoss.Backward(a, b, w, rows, cols, 0.5f, g, accumulate: false);
        var prev = KT.Random(rows * cols, 21);
        var acc = (float[])prev.Clone();
        CosineLoss.Backward(a, b, w, rows, cols, 0.5f, acc, accumulate: true);
        for (int i = 0; i < acc.Length; i++)
            Assert.Equal(w[i / cols] == 0 ? prev[i] : prev[i] + g[i], acc[i]);
    }

    // a = b: cos = 1 up to the float32 rounding of the sums and square roots, so loss and gradient ≈ 0.
    [Fact]
    public void StudentEqualToTeacherGivesZeroLossAndGradient()
    {
        int rows = 5, cols = 769;
        var x = KT.Random(rows * cols, 30, -3f, 3f); var w = Weights(rows);
        var losses = new float[rows];
        CosineLoss.Forward(x, x, w, rows, cols, losses);
        Assert.All(losses, l => Assert.True(Math.Abs(l) <= 4e-7, $"{l}"));
        var d = new float[rows * cols];
        CosineLoss.Backward(x, (float[])x.Clone(), w, rows, cols, 1f, d, accumulate: false);
        // The gradient's scale is w/‖a‖ ≈ 0.05; what is left is rounding.
        Assert.All(d, v => Assert.True(Math.Abs(v) <= 1e-8, $"{v}"));
    }

    // The floor: a zero student row has cos = 0 (loss = w) and gradient −scale·w·b/1e-8; a tiny pair below the floor
    // matches the float64 twin's clamped branch. NaN reaches its row only; a left-out row is not read.
    [Fact]
    public void ZeroAndTinyRowsTakeTheFloorAndNaNStaysInItsRow()
    {
        int rows = 4, cols = 21;
        var a = KT.Random(rows * cols, 40); var b = KT.Random(rows * cols, 41); var w = new[] { 1.5f, 1f, 2f, 0f };
        for (int c = 0; c < cols; c++) { a[c] = 0f; a[cols + c] *= 1e-5f; b[cols + c] *= 1e-5f; }
        a[3 * cols + 2] = float.NaN; // left out (weight 0)
        var losses = new float[rows];
        CosineLoss.Forward(a, b, w, rows, cols, losses);
        Assert.Equal(1.5f, losses[0]);
        KT.Close(RefLosses(KT.D(a), KT.D(b), KT.D(w), rows, cols), losses, 1e-5, 1e-6, "loss");
        var d = new float[rows * cols];
        CosineLoss.Backward(a, b, w, rows, cols, 0.5f, d, accumulate: false);
        KT.Close(RefGrad(KT.D(a), KT.D(b), KT.D(w), rows, cols, 0.5), d, 1e-5, 1e-3, "da");
        double floor = -0.5 * 1.5 * b[4] / 1e-8;
        Assert.True(Math.Abs(d[4] - floor) <= 1e-6 * Math.Abs(floor), $"{d[4]:R} where −scale·w·b/1e-8 is {floor:R}");
        a[2 * cols + 5] = float.NaN;
        CosineLoss.Forward(a, b, w, rows, cols, losses);
        CosineLoss.Backward(a, b, w, rows, cols, 0.5f, d, accumulate: false);
        Assert.True(float.IsNaN(losses[2]));
        Assert.False(float.IsNaN(losses[1]));
        Assert.Equal(0f, losses[3]);
        Assert.All(d.AsSpan(2 * cols, cols).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.All(d.AsSpan(3 * cols, cols).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 517, cols = 257;
        var (a, b) = Inputs(rows, cols, 50); var w = Weights(rows);
        KT.SameBitsForThreadCounts(() =>
        {
            var l = new float[rows]; var d = new float[rows * cols]; var acc = KT.Random(rows * cols, 3);
            CosineLoss.Forward(a, b, w, rows, cols, l);
            CosineLoss.Backward(a, b, w, rows, cols, 1f / rows, d, accumulate: false);
            CosineLoss.Backward(a, b, w, rows, cols, 1f / rows, acc, accumulate: true);
            return l.Concat(d).Concat(acc).ToArray();
        });
        var (ah, bh) = (KT.Bf16(a), KT.Bf16(b)); var prev = KT.Bf16(KT.Random(rows * cols, 4));
        KT.SameBitsForThreadCounts(() =>
        {
            var l = new float[rows]; var d = new ushort[rows * cols]; var acc = (ushort[])prev.Clone();
            CosineLoss.Forward<ushort>(ah, bh, w, rows, cols, l);
            CosineLoss.Backward<ushort>(ah, bh, w, rows, cols, 1f / rows, d, accumulate: false);
            CosineLoss.Backward<ushort>(ah, bh, w, rows, cols, 1f / rows, acc, accumulate: true);
            return l.Concat(KT.Widen(d)).Concat(KT.Widen(acc)).ToArray();
        });
    }

    // bf16 a, b, da: losses are the float32 kernel's on the widened inputs (bitwise), da its result rounded once (also
    // when accumulating into bf16 values); all close to float64 on those inputs.
    [Theory, MemberData(nameof(Shapes))]
    public void Bf16MatchesReference(int rows, int cols)
    {
        int n = rows * cols;
        var (a32, b32) = Inputs(rows, cols, cols + 60);
        var ah = KT.Bf16(a32); var bh = KT.Bf16(b32); var a = KT.Widen(ah); var b = KT.Widen(bh); var w = Weights(rows);
        var losses = new float[rows];
        CosineLoss.Forward<ushort>(ah, bh, w, rows, cols, losses);
        KT.Close(RefLosses(KT.D(a), KT.D(b), KT.D(w), rows, cols), losses, 0, 3.5 * Tol(cols), "loss bf16");
        var want = new float[rows];
        CosineLoss.Forward(a, b, w, rows, cols, want);
        Assert.Equal(want, losses);

        var dh = new ushort[n];
        CosineLoss.Backward<ushort>(ah, bh, w, rows, cols, 0.75f, dh, accumulate: false);
        var ed = RefGrad(KT.D(a), KT.D(b), KT.D(w), rows, cols, 0.75);
        KT.Close(ed, KT.Widen(dh), KT.Bf16Rtol, TermScale(a, b, w, rows, cols, 0.75) * Tol(cols), "da bf16");
        var d32 = new float[n];
        CosineLoss.Backward(a, b, w, rows, cols, 0.75f, d32, accumulate: false);
        Assert.Equal(KT.Bf16(d32), dh);

        var prev = KT.Bf16(KT.Random(n, cols + 61));
        var acc = (ushort[])prev.Clone(); var acc32 = KT.Widen(prev);
        CosineLoss.Backward<ushort>(ah, bh, w, rows, cols, 0.75f, acc, accumulate: true);
        CosineLoss.Backward(a, b, w, rows, cols, 0.75f, acc32, accumulate: true);
        Assert.Equal(KT.Bf16(acc32), acc);
    }

    // The device picks the bf16 kernel from the views' type (losses and weights stay Float32) and refuses mixed types.
    [Fact]
    public void DeviceRunsBf16ActivationsAndRefusesMixedTypes()
    {
        int rows = 5, cols = 37, n = rows * cols;
        var dev = Device.Cpu;
        var (a32, b32) = Inputs(rows, cols, 70);
        var ah = KT.Bf16(a32); var bh = KT.Bf16(b32); var w = Weights(rows);
        using var ta = dev.Allocate(DType.BFloat16, rows, cols); using var tb = dev.Allocate(DType.BFloat16, rows, cols);
        using var tbf = dev.Allocate(DType.Float32, rows, cols); using var td = dev.Allocate(DType.BFloat16, rows, cols);
        using var tw = dev.Allocate(DType.Float32, rows); using var tl = dev.Allocate(DType.Float32, rows);
        dev.CopyToDevice<ushort>(ah, ta); dev.CopyToDevice<ushort>(bh, tb); dev.CopyToDevice<float>(w, tw);
        dev.CosineForward(ta, tb, tw, rows, cols, tl);
        var wl = new float[rows];
        CosineLoss.Forward<ushort>(ah, bh, w, rows, cols, wl);
        Assert.Equal(wl, dev.ToArray(tl));
        dev.CosineBackward(ta, tb, tw, rows, cols, 0.25f, td, accumulate: false);
        var want = new ushort[n]; var got = new ushort[n];
        CosineLoss.Backward<ushort>(ah, bh, w, rows, cols, 0.25f, want, accumulate: false);
        dev.CopyToHost<ushort>(td, got);
        Assert.Equal(want, got);
        KT.Throws<ArgumentException>(() => dev.CosineForward(ta, tbf, tw, rows, cols, tl), "cosine loss", "Float32", "BFloat16");
        KT.Throws<ArgumentException>(() => dev.CosineBackward(ta, tb, tw, rows, cols, 1f, tbf, false), "cosine loss backward", "Float32", "BFloat16");
        KT.Throws<ArgumentException>(() => CosineLoss.Forward<int>(new int[n], new int[n], w, rows, cols, wl), "Int32");
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var x = new float[12]; var w = new float[3]; var l = new float[3];
        KT.Throws<ArgumentException>(() => CosineLoss.Forward(new float[11], x, w, 3, 4, l), "a: need", "12", "11");
        KT.Throws<ArgumentException>(() => CosineLoss.Forward(x, new float[10], w, 3, 4, l), "b: need", "12", "10");
        KT.Throws<ArgumentException>(() => CosineLoss.Forward(x, x, new float[2], 3, 4, l), "weights", "3", "2");
        KT.Throws<ArgumentException>(() => CosineLoss.Forward(x, x, w, 3, 4, new float[2]), "losses", "3", "2");
        KT.Throws<ArgumentException>(() => CosineLoss.Backward(x, x, w, 3, 4, 1f, new float[11], false), "da", "12", "11");
        KT.Throws<ArgumentException>(() => CosineLoss.Backward<ushort>(new ushort[12], new ushort[12], w, 3, 4, 1f, new ushort[10], true), "da", "12", "10");
        KT.Throws<ArgumentOutOfRangeException>(() => CosineLoss.Forward(x, x, w, 3, 0, l), "cols");
        KT.Throws<ArgumentOutOfRangeException>(() => CosineLoss.Forward(x, x, w, -1, 4, l), "rows");
        CosineLoss.Forward(x, x, w, 0, 4, default); // no rows: nothing to do
    }
}
