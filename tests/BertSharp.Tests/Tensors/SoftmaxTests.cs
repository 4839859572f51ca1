using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class SoftmaxTests
{
    public static IEnumerable<object[]> Shapes()
    {
        foreach (int c in KT.AwkwardSizes) yield return new object[] { 2, 3, c };
        yield return new object[] { 3, 17, 65 };
        yield return new object[] { 8, 128, 128 };
    }

    private static float[] Mask(int batch, int cols, int seed)
    {
        var rng = new Random(seed);
        var m = new float[batch * cols];
        for (int i = 0; i < m.Length; i++) m[i] = rng.NextDouble() < 0.25 ? -10000f : 0f;
        return m;
    }

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardMatchesReference(int batch, int rowsPerBatch, int cols)
    {
        int n = batch * rowsPerBatch * cols;
        var x = KT.Random(n, cols, -8f, 8f); var mask = Mask(batch, cols, cols + 1);
        var y = new float[n];
        Softmax.Forward(x, y, batch, rowsPerBatch, cols, 0.125f, mask);
        KT.Close(Ref.Softmax(KT.D(x), batch, rowsPerBatch, cols, 0.125, KT.D(mask)), y, 1e-5, 1e-8, "masked");
        Softmax.Forward(x, y, batch, rowsPerBatch, cols, 1f, default);
        KT.Close(Ref.Softmax(KT.D(x), batch, rowsPerBatch, cols, 1, null), y, 1e-5, 1e-8, "unmasked");
        // In place gives the same bits.
        var inplace = (float[])x.Clone();
        Softmax.Forward(inplace, inplace, batch, rowsPerBatch, cols, 1f, default);
        Assert.Equal(y, inplace);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardMatchesReference(int batch, int rowsPerBatch, int cols)
    {
        int rows = batch * rowsPerBatch, n = rows * cols;
        var y = new float[n];
        Softmax.Forward(KT.Random(n, cols + 2, -4f, 4f), y, batch, rowsPerBatch, cols, 1f, default);
        var dy = KT.Random(n, cols + 3);
        var dx = new float[n];
        Softmax.Backward(y, dy, dx, rows, cols, 0.25f);
        KT.Close(Ref.SoftmaxBackward(KT.D(y), KT.D(dy), rows, cols, 0.25), dx, 1e-4, 1e-7);
        Softmax.Backward(y, dy, dy, rows, cols, 0.25f); // dx aliasing dy
        Assert.Equal(dx, dy);
    }

    // bf16 activations (x, y / y, dy, dx): each output is the float32 kernel's result on the widened inputs rounded once
    // (checked bitwise) and close to float64 on those inputs; in place (y over x, dx over dy) gives the same bits.
    [Theory, MemberData(nameof(Shapes))]
    public void Bf16MatchesReference(int batch, int rowsPerBatch, int cols)
    {
        int rows = batch * rowsPerBatch, n = rows * cols;
        var xh = KT.Bf16(KT.Random(n, cols + 5, -8f, 8f)); var x = KT.Widen(xh); var mask = Mask(batch, cols, cols + 6);
        var yh = new ushort[n];
        Softmax.Forward<ushort>(xh, yh, batch, rowsPerBatch, cols, 0.125f, mask);
        KT.Close(Ref.Softmax(KT.D(x), batch, rowsPerBatch, cols, 0.125, KT.D(mask)), KT.Widen(yh), KT.Bf16Rtol, 1e-8, "masked bf16");
        var y = new float[n];
        Softmax.Forward(x, y, batch, rowsPerBatch, cols, 0.125f, mask);
        Assert.Equal(KT.Bf16(y), yh);
        Softmax.Forward<ushort>(xh, yh, batch, rowsPerBatch, cols, 1f, default);
        KT.Close(Ref.Softmax(KT.D(x), batch, rowsPerBatch, cols, 1, null), KT.Widen(yh), KT.Bf16Rtol, 1e-8, "unmasked bf16");
        var inplace = (ushort[])xh.Clone();
        Softmax.Forward<ushort>(inplace, inplace, batch, rowsPerBatch, cols, 1f, default);
        Assert.Equal(yh, inplace);

        var yb = KT.Widen(yh);
        var dyh = KT.Bf16(KT.Random(n, cols + 7)); var dy = KT.Widen(dyh);
        var dxh = new ushort[n];
        Softmax.Backward<ushort>(yh, dyh, dxh, rows, cols, 0.25f);
        KT.Close(Ref.SoftmaxBackward(KT.D(yb), KT.D(dy), rows, cols, 0.25), KT.Widen(dxh), KT.Bf16Rtol, 1e-7, "backward bf16");
        var dx = new float[n];
        Softmax.Backward(yb, dy, dx, rows, cols, 0.25f);
        Assert.Equal(KT.Bf16(dx), dxh);
        Softmax.Backward<ushort>(yh, dyh, dyh, rows, cols, 0.25f); // dx aliasing dy
        Assert.Equal(dxh, dyh);
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        int batch = 4, rpb = 128, cols = 128, n = batch * rpb * cols;
        var xh = KT.Bf16(KT.Random(n, 63, -5f, 5f)); var mask = Mask(batch, cols, 64); var dyh = KT.Bf16(KT.Random(n, 65));
        KT.SameBitsForThreadCounts(() => { var y = new ushort[n]; Softmax.Forward<ushort>(xh, y, batch, rpb, cols, 0.125f, mask); return KT.Widen(y); });
        KT.SameBitsForThreadCounts(() => { var d = new ushort[n]; Softmax.Backward<ushort>(xh, dyh, d, batch * rpb, cols, 0.5f); return KT.Widen(d); });
    }

    // The device picks the bf16 kernel from the views' type (the mask stays Float32), and refuses mixed activations.
    [Fact]
    public void DeviceRunsBf16ActivationsAndRefusesMixedTypes()
    {
        int batch = 2, rpb = 3, cols = 21, n = batch * rpb * cols;
        var d = Device.Cpu;
        var xh = KT.Bf16(KT.Random(n, 66, -3f, 3f)); var mask = Mask(batch, cols, 67);
        using var x = d.Allocate(DType.BFloat16, n); using var y = d.Allocate(DType.BFloat16, n);
        using var yf = d.Allocate(DType.Float32, n); using var m = d.Allocate(DType.Float32, batch * cols);
        d.CopyToDevice<ushort>(xh, x); d.CopyToDevice<float>(mask, m);
        d.SoftmaxForward(x, y, batch, rpb, cols, 0.5f, m);
        var want = new ushort[n]; var got = new ushort[n];
        Softmax.Forward<ushort>(xh, want, batch, rpb, cols, 0.5f, mask);
        d.CopyToHost<ushort>(y, got);
        Assert.Equal(want, got);
        d.SoftmaxBackward(y, x, x, batch * rpb, cols, 0.5f); // dx over dy
        var dxWant = new ushort[n];
        Softmax.Backward<ushort>(want, xh, dxWant, batch * rpb, cols, 0.5f);
        d.CopyToHost<ushort>(x, got);
        Assert.Equal(dxWant, got);
        KT.Throws<ArgumentException>(() => d.SoftmaxForward(x, yf, batch, rpb, cols, 0.5f, m), "softmax", "Float32", "BFloat16");
        KT.Throws<ArgumentException>(() => d.SoftmaxBackward(y, yf, x, batch * rpb, cols, 0.5f), "softmax backward");
        KT.Throws<ArgumentException>(() => Softmax.Forward<double>(new double[n], new double[n], batch, rpb, cols, 1f, default), "Double");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int batch = 2, rpb = 2, cols = 7, n = batch * rpb * cols;
        double scale = 0.7;
        var x = KT.D(KT.Random(n, 40, -2f, 2f)); var mask = KT.D(Mask(batch, cols, 41)); var w = KT.D(KT.Random(n, 42));
        var fd = KT.FiniteDiff(v => Ref.Softmax(v, batch, rpb, cols, scale, mask), x, w);
        var y = new float[n];
        Softmax.Forward(Array.ConvertAll(x, v => (float)v), y, batch, rpb, cols, (float)scale, Array.ConvertAll(mask, v => (float)v));
        var dx = new float[n];
        Softmax.Backward(y, Array.ConvertAll(w, v => (float)v), dx, batch * rpb, cols, (float)scale);
        KT.Close(fd, dx, 1e-4, 1e-6);
    }

    [Fact]
    public void MinusInfinityMaskGivesExactZeroAndNaNStaysInItsRow()
    {
        int cols = 19;
        var x = KT.Random(2 * cols, 50);
        var mask = new float[cols]; mask[3] = float.NegativeInfinity; mask[18] = float.NegativeInfinity;
        var y = new float[2 * cols];
        Softmax.Forward(x, y, 1, 2, cols, 1f, mask);
        Assert.Equal(0f, y[3]); Assert.Equal(0f, y[18]); Assert.Equal(0f, y[cols + 3]);
        Assert.Equal(1.0, y.AsSpan(0, cols).ToArray().Sum(v => (double)v), 5);
        x[cols + 4] = float.NaN;
        Softmax.Forward(x, y, 1, 2, cols, 1f, mask);
        Assert.All(y.AsSpan(cols, cols).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.All(y.AsSpan(0, cols).ToArray(), v => Assert.False(float.IsNaN(v)));
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        int batch = 4, rpb = 128, cols = 128, n = batch * rpb * cols;
        var x = KT.Random(n, 60, -5f, 5f); var mask = Mask(batch, cols, 61); var dy = KT.Random(n, 62);
        KT.SameBitsForThreadCounts(() => { var y = new float[n]; Softmax.Forward(x, y, batch, rpb, cols, 0.125f, mask); return y; });
        KT.SameBitsForThreadCounts(() => { var d = new float[n]; Softmax.Backward(x, dy, d, batch * rpb, cols, 0.5f); return d; });
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        KT.Throws<ArgumentException>(() => Softmax.Forward(new float[12], new float[11], 2, 2, 3, 1f, default), "y", "12", "11");
        KT.Throws<ArgumentException>(() => Softmax.Forward(new float[12], new float[12], 2, 2, 3, 1f, new float[5]), "mask", "6", "5");
        KT.Throws<ArgumentException>(() => Softmax.Backward(new float[6], new float[5], new float[6], 2, 3, 1f), "dy", "6", "5");
        KT.Throws<ArgumentOutOfRangeException>(() => Softmax.Forward(new float[12], new float[12], -2, 2, 3, 1f, default), "batch");
    }
}
