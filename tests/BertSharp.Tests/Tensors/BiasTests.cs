using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class BiasTests
{
    public static IEnumerable<object[]> Shapes()
    {
        foreach (int c in KT.AwkwardSizes) yield return new object[] { 3, c };
        // (3, 17) is in the first loop already; xunit would skip the second copy with a warning.
        foreach (int r in KT.AwkwardSizes) if (r != 3) yield return new object[] { r, 17 };
        yield return new object[] { 130, 130 };
        yield return new object[] { 700, 1030 };
    }

    [Theory, MemberData(nameof(Shapes))]
    public void AddMatchesReference(int rows, int cols)
    {
        var y = KT.Random(rows * cols, 1); var b = KT.Random(cols, 2);
        var expect = new double[y.Length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) expect[r * cols + c] = (double)y[r * cols + c] + b[c];
        Bias.Add(y, rows, cols, b);
        KT.Close(expect, y, 1e-7, 0);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardAccumulatesColumnSums(int rows, int cols)
    {
        var dy = KT.Random(rows * cols, 3); var db = KT.Random(cols, 4);
        var expect = KT.D(db);
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) expect[c] += dy[r * cols + c];
        Bias.Backward(dy, rows, cols, db);
        KT.Close(expect, db, 1e-5, 1e-5 * Math.Sqrt(rows));
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int rows = 5, cols = 7;
        var x = KT.D(KT.Random(rows * cols, 5)); var w = KT.D(KT.Random(rows * cols, 6)); var b0 = KT.D(KT.Random(cols, 7));
        double[] Fwd(double[] b) { var y = (double[])x.Clone(); for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) y[r * cols + c] += b[c]; return y; }
        var fd = KT.FiniteDiff(Fwd, b0, w);
        var db = new float[cols];
        Bias.Backward(Array.ConvertAll(w, v => (float)v), rows, cols, db);
        KT.Close(fd, db, 1e-5, 1e-6);
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 2048, cols = 260;
        var dy = KT.Random(rows * cols, 8);
        KT.SameBitsForThreadCounts(() => { var db = KT.Random(cols, 9); Bias.Backward(dy, rows, cols, db); return db; });
        KT.SameBitsForThreadCounts(() => { var y = KT.Random(rows * cols, 10); Bias.Add(y, rows, cols, dy.AsSpan(0, cols)); return y; });
    }

    [Fact]
    public void NaNAndInfinityPropagate()
    {
        var dy = new float[] { 1, float.NaN, 2, float.PositiveInfinity, 3, 4 };
        var db = new float[3];
        Bias.Backward(dy, 2, 3, db);
        Assert.Equal(float.PositiveInfinity, db[0]); Assert.True(float.IsNaN(db[1])); Assert.Equal(6f, db[2]);
        var y = new float[] { 1, 2, 3 };
        Bias.Add(y, 1, 3, new float[] { float.NaN, float.NegativeInfinity, 0 });
        Assert.True(float.IsNaN(y[0])); Assert.Equal(float.NegativeInfinity, y[1]); Assert.Equal(3f, y[2]);
    }

    [Fact]
    public void BadArgumentsThrowBeforeWriting()
    {
        var y = new float[5];
        KT.Throws<ArgumentException>(() => Bias.Add(y, 2, 3, new float[3]), "y", "6", "2x3", "5");
        KT.Throws<ArgumentException>(() => Bias.Add(new float[6], 2, 3, new float[2]), "bias", "3", "2");
        KT.Throws<ArgumentOutOfRangeException>(() => Bias.Add(y, -1, 3, new float[3]), "rows");
        var db = new float[] { 1, 2 };
        KT.Throws<ArgumentException>(() => Bias.Backward(new float[6], 2, 3, db), "dbias");
        Assert.Equal(new float[] { 1, 2 }, db);
    }
}
