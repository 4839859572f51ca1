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

    // bf16 y/dy: y + bias computed in float32 and rounded once (half a bf16 ulp of the result); dbias stays float32,
    // summed in float32 from the widened rows, so it gets the float32 tolerance over the bf16 inputs.
    [Theory, MemberData(nameof(Shapes))]
    public void Bf16MatchesReference(int rows, int cols)
    {
        var yh = KT.Bf16(KT.Random(rows * cols, 21)); var y = KT.Widen(yh); var b = KT.Random(cols, 22);
        var expect = new double[y.Length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) expect[r * cols + c] = (double)y[r * cols + c] + b[c];
        Bias.Add<ushort>(yh, rows, cols, b);
        KT.Close(expect, KT.Widen(yh), KT.Bf16Rtol, 1e-37, "bias add bf16");

        var dyh = KT.Bf16(KT.Random(rows * cols, 23)); var dy = KT.Widen(dyh); var db = KT.Random(cols, 24);
        var dexpect = KT.D(db);
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) dexpect[c] += dy[r * cols + c];
        Bias.Backward<ushort>(dyh, rows, cols, db);
        KT.Close(dexpect, db, 1e-5, 1e-5 * Math.Sqrt(rows), "dbias from bf16");
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 2048, cols = 260;
        var dyh = KT.Bf16(KT.Random(rows * cols, 25)); var b = KT.Random(cols, 26);
        KT.SameBitsForThreadCounts(() => { var db = KT.Random(cols, 27); Bias.Backward<ushort>(dyh, rows, cols, db); return db; });
        KT.SameBitsForThreadCounts(() => { var y = KT.Bf16(KT.Random(rows * cols, 28)); Bias.Add<ushort>(y, rows, cols, b); return KT.Widen(y); });
    }

    [Fact]
    public void DeviceTakesBf16ActivationsAndFloat32ParametersOnly()
    {
        var d = Device.Cpu;
        int rows = 3, cols = 5;
        var yh = KT.Bf16(KT.Random(rows * cols, 29)); var b = KT.Random(cols, 30);
        using var y = d.Allocate(DType.BFloat16, rows, cols);
        using var bias = d.Allocate(DType.Float32, cols);
        using var bias16 = d.Allocate(DType.BFloat16, cols);
        d.CopyToDevice<ushort>(yh, y);
        d.CopyToDevice<float>(b, bias);
        d.BiasAdd(y, rows, cols, bias);
        var got = new ushort[rows * cols];
        d.CopyToHost<ushort>(y, got);
        Bias.Add<ushort>(yh, rows, cols, b);
        Assert.Equal(yh, got);
        var db = new float[cols];
        d.BiasBackward(y, rows, cols, bias);
        Bias.Backward<ushort>(got, rows, cols, db);
        Assert.Equal(b.Zip(db, (u, v) => u + v), d.ToArray(bias));
        // The bias and its gradient are parameters: Float32 whatever the activations are.
        Assert.Throws<ArgumentException>(() => d.BiasAdd(y, rows, cols, bias16));
        Assert.Throws<ArgumentException>(() => d.BiasBackward(y, rows, cols, bias16));
        Assert.Throws<ArgumentException>(() => Bias.Add<double>(new double[15], rows, cols, b));
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
