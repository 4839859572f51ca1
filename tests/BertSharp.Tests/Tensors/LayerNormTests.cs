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
