using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class LayerNormTests
{
    private const float Eps = 1e-12f;

    public static IEnumerable<object[]> Shapes()
    {
        foreach (int c in KT.AwkwardSizes) yield return new object[] { 3, c };
        yield return new object[] { 130, 65 };
        yield return new object[] { 33, 127 };
        yield return new object[] { 513, 768 };
    }

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardMatchesReference(int rows, int cols)
    {
        var x = KT.Random(rows * cols, rows + cols, -3f, 5f); var g = KT.Random(cols, 2); var b = KT.Random(cols, 3);
        var y = new float[rows * cols]; var mean = new float[rows]; var rstd = new float[rows];
        LayerNorm.Forward(x, rows, cols, g, b, Eps, y, mean, rstd);
        var em = new double[rows]; var er = new double[rows];
        var ey = Ref.LayerNorm(KT.D(x), rows, cols, KT.D(g), KT.D(b), Eps, em, er);
        KT.Close(ey, y, 1e-5, 1e-5, "y");
        KT.Close(em, mean, 1e-6, 1e-6, "mean");
        KT.Close(er, rstd, 1e-5, 0, "rstd");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardMatchesReference(int rows, int cols)
    {
        var x = KT.Random(rows * cols, rows + 7 * cols, -3f, 5f); var g = KT.Random(cols, 4); var dy = KT.Random(rows * cols, 5);
        var y = new float[rows * cols]; var mean = new float[rows]; var rstd = new float[rows];
        LayerNorm.Forward(x, rows, cols, g, new float[cols], Eps, y, mean, rstd);
        var dx = new float[rows * cols]; var dg = KT.Random(cols, 6); var db = KT.Random(cols, 7);
        var edx = new double[rows * cols]; var edg = KT.D(dg); var edb = KT.D(db);
        LayerNorm.Backward(dy, x, mean, rstd, g, rows, cols, dx, dg, db);
        Ref.LayerNormBackward(KT.D(dy), KT.D(x), rows, cols, KT.D(g), Eps, edx, edg, edb);
        KT.Close(edx, dx, 1e-4, 2e-5, "dx");
        KT.Close(edg, dg, 1e-4, 1e-5 * Math.Sqrt(rows), "dgamma");
        KT.Close(edb, db, 1e-4, 1e-5 * Math.Sqrt(rows), "dbeta");
    }

    // bf16 activations (x, y, dy, dx): inputs are bf16 values; every output is the float32 kernel's result on the
    // widened inputs (bf16 outputs rounded once, to nearest even), checked bitwise, and close to float64 on those inputs.
    [Theory, MemberData(nameof(Shapes))]
    public void Bf16MatchesReference(int rows, int cols)
    {
        int n = rows * cols;
        var xh = KT.Bf16(KT.Random(n, rows + cols, -3f, 5f)); var x = KT.Widen(xh);
        var g = KT.Random(cols, 2); var b = KT.Random(cols, 3);
        var yh = new ushort[n]; var mean = new float[rows]; var rstd = new float[rows];
        LayerNorm.Forward<ushort>(xh, rows, cols, g, b, Eps, yh, mean, rstd);
        var em = new double[rows]; var er = new double[rows];
        var ey = Ref.LayerNorm(KT.D(x), rows, cols, KT.D(g), KT.D(b), Eps, em, er);
        KT.Close(ey, KT.Widen(yh), KT.Bf16Rtol, 1e-5, "y bf16");
        KT.Close(em, mean, 1e-6, 1e-6, "mean");
        KT.Close(er, rstd, 1e-5, 0, "rstd");
        var y = new float[n]; var mean32 = new float[rows]; var rstd32 = new float[rows];
        LayerNorm.Forward(x, rows, cols, g, b, Eps, y, mean32, rstd32);
        Assert.Equal(KT.Bf16(y), yh);
        Assert.Equal(mean32, mean);
        Assert.Equal(rstd32, rstd);

        var dyh = KT.Bf16(KT.Random(n, rows + 5 * cols, -2f, 2f)); var dy = KT.Widen(dyh);
        var dxh = new ushort[n]; var dg = KT.Random(cols, 6); var db = KT.Random(cols, 7);
        var edx = new double[n]; var edg = KT.D(dg); var edb = KT.D(db);
        var dg32 = (float[])dg.Clone(); var db32 = (float[])db.Clone(); var dx32 = new float[n];
        LayerNorm.Backward<ushort>(dyh, xh, mean, rstd, g, rows, cols, dxh, dg, db);
        Ref.LayerNormBackward(KT.D(dy), KT.D(x), rows, cols, KT.D(g), Eps, edx, edg, edb);
        KT.Close(edx, KT.Widen(dxh), KT.Bf16Rtol, 2e-5, "dx bf16");
        KT.Close(edg, dg, 1e-4, 1e-5 * Math.Sqrt(rows), "dgamma");
        KT.Close(edb, db, 1e-4, 1e-5 * Math.Sqrt(rows), "dbeta");
        LayerNorm.Backward(dy, x, mean, rstd, g, rows, cols, dx32, dg32, db32);
        Assert.Equal(KT.Bf16(dx32), dxh);
        Assert.Equal(dg32, dg);
        Assert.Equal(db32, db);
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 517, cols = 257, n = rows * cols;
        var xh = KT.Bf16(KT.Random(n, 24)); var g = KT.Random(cols, 25); var b = KT.Random(cols, 26); var dyh = KT.Bf16(KT.Random(n, 27));
        var mean = new float[rows]; var rstd = new float[rows];
        KT.SameBitsForThreadCounts(() =>
        {
            var y = new ushort[n];
            LayerNorm.Forward<ushort>(xh, rows, cols, g, b, Eps, y, mean, rstd);
            return KT.Widen(y).Concat(mean).Concat(rstd).ToArray();
        });
        KT.SameBitsForThreadCounts(() =>
        {
            var dx = new ushort[n]; var dg = new float[cols]; var db = new float[cols];
            LayerNorm.Backward<ushort>(dyh, xh, mean, rstd, g, rows, cols, dx, dg, db);
            return KT.Widen(dx).Concat(dg).Concat(db).ToArray();
        }, 1, 2, 5, 3);
    }

    // The device picks the bf16 kernel from the views' type, and refuses a call whose activations mix the two types.
    [Fact]
    public void DeviceRunsBf16ActivationsAndRefusesMixedTypes()
    {
        int rows = 5, cols = 37, n = rows * cols;
        var d = Device.Cpu;
        var xh = KT.Bf16(KT.Random(n, 28, -2f, 2f)); var g = KT.Random(cols, 29); var b = KT.Random(cols, 30);
        using var x = d.Allocate(DType.BFloat16, rows, cols); using var y = d.Allocate(DType.BFloat16, rows, cols);
        using var yf = d.Allocate(DType.Float32, rows, cols); using var dx = d.Allocate(DType.BFloat16, rows, cols);
        using var tg = d.Allocate(DType.Float32, cols); using var tb = d.Allocate(DType.Float32, cols);
        using var mean = d.Allocate(DType.Float32, rows); using var rstd = d.Allocate(DType.Float32, rows);
        using var dg = d.Allocate(DType.Float32, cols); using var db = d.Allocate(DType.Float32, cols);
        d.CopyToDevice<ushort>(xh, x); d.CopyToDevice<float>(g, tg); d.CopyToDevice<float>(b, tb);
        d.LayerNormForward(x, rows, cols, tg, tb, Eps, y, mean, rstd);
        var want = new ushort[n]; var got = new ushort[n];
        LayerNorm.Forward<ushort>(xh, rows, cols, g, b, Eps, want, new float[rows], new float[rows]);
        d.CopyToHost<ushort>(y, got);
        Assert.Equal(want, got);
        d.LayerNormBackward(y, x, mean, rstd, tg, rows, cols, dx, dg, db);
        var dxWant = new ushort[n];
        LayerNorm.Backward<ushort>(got, xh, d.ToArray(mean), d.ToArray(rstd), g, rows, cols, dxWant, new float[cols], new float[cols]);
        d.CopyToHost<ushort>(dx, got);
        Assert.Equal(dxWant, got);
        KT.Throws<ArgumentException>(() => d.LayerNormForward(x, rows, cols, tg, tb, Eps, yf, mean, rstd), "layer norm", "Float32", "BFloat16");
        KT.Throws<ArgumentException>(() => d.LayerNormBackward(y, x, mean, rstd, tg, rows, cols, yf, dg, db), "layer norm backward");
        KT.Throws<ArgumentException>(() => LayerNorm.Forward<int>(new int[n], rows, cols, g, b, Eps, new int[n], new float[rows], new float[rows]), "Int32");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int rows = 3, cols = 7;
        double eps = 1e-5; // a visible eps so the check also covers it
        var x = KT.D(KT.Random(rows * cols, 10, -2f, 2f)); var g = KT.D(KT.Random(cols, 11)); var b = KT.D(KT.Random(cols, 12));
        var w = KT.D(KT.Random(rows * cols, 13));
        var fdx = KT.FiniteDiff(v => Ref.LayerNorm(v, rows, cols, g, b, eps), x, w);
        var fdg = KT.FiniteDiff(v => Ref.LayerNorm(x, rows, cols, v, b, eps), g, w);
        var fdb = KT.FiniteDiff(v => Ref.LayerNorm(x, rows, cols, g, v, eps), b, w);

        var xf = Array.ConvertAll(x, v => (float)v); var gf = Array.ConvertAll(g, v => (float)v); var bf = Array.ConvertAll(b, v => (float)v);
        var y = new float[rows * cols]; var mean = new float[rows]; var rstd = new float[rows];
        LayerNorm.Forward(xf, rows, cols, gf, bf, (float)eps, y, mean, rstd);
        var dx = new float[rows * cols]; var dg = new float[cols]; var db = new float[cols];
        LayerNorm.Backward(Array.ConvertAll(w, v => (float)v), xf, mean, rstd, gf, rows, cols, dx, dg, db);
        KT.Close(fdx, dx, 1e-4, 1e-5, "dx");
        KT.Close(fdg, dg, 1e-4, 1e-5, "dgamma");
        KT.Close(fdb, db, 1e-4, 1e-5, "dbeta");
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 517, cols = 257;
        var x = KT.Random(rows * cols, 20); var g = KT.Random(cols, 21); var b = KT.Random(cols, 22); var dy = KT.Random(rows * cols, 23);
        var mean = new float[rows]; var rstd = new float[rows];
        KT.SameBitsForThreadCounts(() => { var y = new float[rows * cols]; LayerNorm.Forward(x, rows, cols, g, b, Eps, y, mean, rstd); return y; });
        KT.SameBitsForThreadCounts(() =>
        {
            var dx = new float[rows * cols]; var dg = new float[cols]; var db = new float[cols];
            LayerNorm.Backward(dy, x, mean, rstd, g, rows, cols, dx, dg, db);
            return dx.Concat(dg).Concat(db).ToArray();
        }, 1, 2, 5, 3);
    }

    [Fact]
    public void NaNInARowMakesOnlyThatRowNaN()
    {
        int rows = 4, cols = 33;
        var x = KT.Random(rows * cols, 30); x[2 * cols + 5] = float.NaN;
        var g = KT.Random(cols, 31); var b = KT.Random(cols, 32);
        var y = new float[rows * cols]; var mean = new float[rows]; var rstd = new float[rows];
        LayerNorm.Forward(x, rows, cols, g, b, Eps, y, mean, rstd);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                Assert.Equal(r == 2, float.IsNaN(y[r * cols + c]));
        x[2 * cols + 5] = float.PositiveInfinity;
        LayerNorm.Forward(x, rows, cols, g, b, Eps, y, mean, rstd);
        Assert.True(float.IsNaN(y[2 * cols])); // inf − inf in the variance
        Assert.False(float.IsNaN(y[3 * cols]));
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var y = new float[6];
        KT.Throws<ArgumentException>(() => LayerNorm.Forward(new float[5], 2, 3, new float[3], new float[3], Eps, y, new float[2], new float[2]), "x", "6", "5");
        KT.Throws<ArgumentException>(() => LayerNorm.Forward(new float[6], 2, 3, new float[2], new float[3], Eps, y, new float[2], new float[2]), "gamma", "3", "2");
        KT.Throws<ArgumentException>(() => LayerNorm.Forward(new float[6], 2, 3, new float[3], new float[3], Eps, y, new float[1], new float[2]), "mean", "2", "1");
        var dg = new float[] { 1, 2, 3 };
        KT.Throws<ArgumentException>(() => LayerNorm.Backward(new float[6], new float[6], new float[2], new float[2], new float[3], 2, 3, new float[6], dg, new float[2]), "dbeta");
        Assert.Equal(new float[] { 1, 2, 3 }, dg);
        KT.Throws<ArgumentOutOfRangeException>(() => LayerNorm.Forward(y, 2, -3, y, y, Eps, y, y, y), "cols");
    }
}
