using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class CrossEntropyTests
{
    private const int Ignore = -100;

    public static IEnumerable<object[]> Shapes()
    {
        foreach (int c in KT.AwkwardSizes) yield return new object[] { 5, c };
        yield return new object[] { 3, 2049 };
        yield return new object[] { 4, 30522 };
    }

    private static int[] Targets(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var t = new int[rows];
        for (int r = 0; r < rows; r++) t[r] = r % 3 == 1 ? Ignore : rng.Next(cols);
        return t;
    }

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardMatchesReference(int rows, int cols)
    {
        var logits = KT.Random(rows * cols, cols, -10f, 10f);
        var targets = Targets(rows, cols, cols);
        var losses = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
        CrossEntropy.Forward(logits, rows, cols, targets, Ignore, losses, lse, arg);
        var d = KT.D(logits);
        KT.Close(Ref.CrossEntropyLosses(d, rows, cols, targets, Ignore), losses, 1e-5, 1e-5, "loss");
        KT.Close(Enumerable.Range(0, rows).Select(r => Ref.LogSumExp(d, r * cols, cols)).ToArray(), lse, 1e-6, 1e-6, "lse");
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * cols, cols);
            Assert.Equal(row.IndexOf(row.ToArray().Max()), arg[r]);
            if (targets[r] == Ignore) Assert.Equal(0f, losses[r]);
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardMatchesReference(int rows, int cols)
    {
        var logits = KT.Random(rows * cols, cols + 1, -10f, 10f);
        var targets = Targets(rows, cols, cols + 1);
        var losses = new float[rows]; var lse = new float[rows];
        CrossEntropy.Forward(logits, rows, cols, targets, Ignore, losses, lse, default);
        var dl = new float[rows * cols];
        CrossEntropy.Backward(logits, lse, targets, Ignore, rows, cols, 0.5f, dl);
        KT.Close(Ref.CrossEntropyGrad(KT.D(logits), rows, cols, targets, Ignore, 0.5), dl, 1e-5, 1e-8);
        CrossEntropy.Backward(logits, lse, targets, Ignore, rows, cols, 0.5f, logits); // dlogits aliasing logits
        Assert.Equal(dl, logits);
    }

    // bf16 logits (and dlogits): losses, logSumExp and argmax are the float32 kernel's on the widened logits (bitwise),
    // dlogits its result rounded once; all close to float64 on those inputs. bf16 logits tie often: argmax is the first.
    [Theory, MemberData(nameof(Shapes))]
    public void Bf16MatchesReference(int rows, int cols)
    {
        int n = rows * cols;
        var lh = KT.Bf16(KT.Random(n, cols + 2, -10f, 10f)); var logits = KT.Widen(lh);
        var targets = Targets(rows, cols, cols + 2);
        var losses = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
        CrossEntropy.Forward<ushort>(lh, rows, cols, targets, Ignore, losses, lse, arg);
        var d = KT.D(logits);
        KT.Close(Ref.CrossEntropyLosses(d, rows, cols, targets, Ignore), losses, 1e-5, 1e-5, "loss bf16");
        KT.Close(Enumerable.Range(0, rows).Select(r => Ref.LogSumExp(d, r * cols, cols)).ToArray(), lse, 1e-6, 1e-6, "lse bf16");
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * cols, cols);
            Assert.Equal(row.IndexOf(row.ToArray().Max()), arg[r]);
        }
        var losses32 = new float[rows]; var lse32 = new float[rows]; var arg32 = new int[rows];
        CrossEntropy.Forward(logits, rows, cols, targets, Ignore, losses32, lse32, arg32);
        Assert.Equal(losses32, losses); Assert.Equal(lse32, lse); Assert.Equal(arg32, arg);

        var dh = new ushort[n];
        Array.Fill(dh, (ushort)0x7fc0); // NaN: an ignored row must be cleared
        CrossEntropy.Backward<ushort>(lh, lse, targets, Ignore, rows, cols, 0.5f, dh);
        KT.Close(Ref.CrossEntropyGrad(d, rows, cols, targets, Ignore, 0.5), KT.Widen(dh), KT.Bf16Rtol, 1e-8, "dlogits bf16");
        var d32 = new float[n];
        CrossEntropy.Backward(logits, lse, targets, Ignore, rows, cols, 0.5f, d32);
        Assert.Equal(KT.Bf16(d32), dh);
        CrossEntropy.Backward<ushort>(lh, lse, targets, Ignore, rows, cols, 0.5f, lh); // dlogits aliasing logits
        Assert.Equal(dh, lh);
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 33, cols = 30522;
        var lh = KT.Bf16(KT.Random(rows * cols, 82, -5f, 5f));
        var targets = Targets(rows, cols, 83);
        KT.SameBitsForThreadCounts(() =>
        {
            var l = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
            CrossEntropy.Forward<ushort>(lh, rows, cols, targets, Ignore, l, lse, arg);
            var d = new ushort[rows * cols];
            CrossEntropy.Backward<ushort>(lh, lse, targets, Ignore, rows, cols, 1f / rows, d);
            return l.Concat(lse).Concat(arg.Select(a => (float)a)).Concat(KT.Widen(d)).ToArray();
        });
    }

    // The device picks the bf16 kernel from the logits' type (losses, logSumExp stay Float32), and refuses bf16 logits
    // with Float32 dlogits.
    [Fact]
    public void DeviceRunsBf16ActivationsAndRefusesMixedTypes()
    {
        int rows = 4, cols = 2051, n = rows * cols;
        var dev = Device.Cpu;
        var lh = KT.Bf16(KT.Random(n, 84, -6f, 6f)); var targets = Targets(rows, cols, 85);
        using var logits = dev.Allocate(DType.BFloat16, rows, cols); using var dl = dev.Allocate(DType.BFloat16, rows, cols);
        using var dlf = dev.Allocate(DType.Float32, rows, cols); using var t = dev.Allocate(DType.Int32, rows);
        using var losses = dev.Allocate(DType.Float32, rows); using var lse = dev.Allocate(DType.Float32, rows);
        using var arg = dev.Allocate(DType.Int32, rows);
        dev.CopyToDevice<ushort>(lh, logits); dev.CopyToDevice<int>(targets, t);
        dev.CrossEntropyForward(logits, rows, cols, t, Ignore, losses, lse, arg);
        var wl = new float[rows]; var wlse = new float[rows]; var warg = new int[rows];
        CrossEntropy.Forward<ushort>(lh, rows, cols, targets, Ignore, wl, wlse, warg);
        Assert.Equal(wl, dev.ToArray(losses)); Assert.Equal(wlse, dev.ToArray(lse));
        var gotArg = new int[rows]; dev.CopyToHost<int>(arg, gotArg);
        Assert.Equal(warg, gotArg);
        dev.CrossEntropyBackward(logits, lse, t, Ignore, rows, cols, 0.25f, dl);
        var want = new ushort[n]; var got = new ushort[n];
        CrossEntropy.Backward<ushort>(lh, wlse, targets, Ignore, rows, cols, 0.25f, want);
        dev.CopyToHost<ushort>(dl, got);
        Assert.Equal(want, got);
        KT.Throws<ArgumentException>(() => dev.CrossEntropyBackward(logits, lse, t, Ignore, rows, cols, 0.25f, dlf), "cross-entropy backward", "Float32", "BFloat16");
        KT.Throws<ArgumentException>(() => CrossEntropy.Forward<int>(new int[n], rows, cols, targets, Ignore, wl, wlse, warg), "Int32");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int rows = 4, cols = 11;
        var x = KT.D(KT.Random(rows * cols, 70, -3f, 3f));
        var targets = new[] { 3, Ignore, 0, 10 };
        var w = KT.D(KT.Random(rows, 71));
        var fd = KT.FiniteDiff(v => Ref.CrossEntropyLosses(v, rows, cols, targets, Ignore), x, w);
        // Σ_r w_r·loss_r: the kernel's scale is per call, so feed each row with its own weight.
        var xf = Array.ConvertAll(x, v => (float)v);
        var lse = new float[rows];
        CrossEntropy.Forward(xf, rows, cols, targets, Ignore, new float[rows], lse, default);
        var dl = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            CrossEntropy.Backward(xf.AsSpan(r * cols, cols), lse.AsSpan(r, 1), targets.AsSpan(r, 1), Ignore, 1, cols, (float)w[r], dl.AsSpan(r * cols, cols));
        KT.Close(fd, dl, 1e-5, 1e-6);
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        int rows = 33, cols = 30522;
        var logits = KT.Random(rows * cols, 80, -5f, 5f);
        var targets = Targets(rows, cols, 81);
        KT.SameBitsForThreadCounts(() =>
        {
            var l = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
            CrossEntropy.Forward(logits, rows, cols, targets, Ignore, l, lse, arg);
            var d = new float[rows * cols];
            CrossEntropy.Backward(logits, lse, targets, Ignore, rows, cols, 1f / rows, d);
            return l.Concat(lse).Concat(arg.Select(a => (float)a)).Concat(d).ToArray();
        });
    }

    [Fact]
    public void NaNMakesOnlyItsRowNaNAndLargeLogitsDoNotOverflow()
    {
        int rows = 3, cols = 40;
        var logits = KT.Random(rows * cols, 90);
        logits[cols + 7] = float.NaN;
        logits[2 * cols + 3] = 1e30f; // max-subtraction keeps this finite
        var targets = new[] { 1, 2, 3 };
        var l = new float[rows]; var lse = new float[rows];
        CrossEntropy.Forward(logits, rows, cols, targets, Ignore, l, lse, default);
        Assert.False(float.IsNaN(l[0])); Assert.True(float.IsNaN(l[1]));
        Assert.Equal(0f, l[2]); Assert.Equal(1e30f, lse[2]);
        var d = new float[rows * cols];
        CrossEntropy.Backward(logits, lse, targets, Ignore, rows, cols, 1f, d);
        Assert.True(float.IsNaN(d[cols])); Assert.False(float.IsNaN(d[0])); Assert.Equal(0f, d[2 * cols + 3]);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var logits = new float[12];
        KT.Throws<ArgumentException>(() => CrossEntropy.Forward(logits, 3, 4, new[] { 0, 4, 1 }, Ignore, new float[3], new float[3], default), "targets", "4", "row 1");
        KT.Throws<ArgumentException>(() => CrossEntropy.Forward(logits, 3, 4, new[] { 0, 1 }, Ignore, new float[3], new float[3], default), "targets", "3", "2");
        KT.Throws<ArgumentException>(() => CrossEntropy.Forward(new float[11], 3, 4, new[] { 0, 1, 2 }, Ignore, new float[3], new float[3], default), "logits", "12", "11");
        KT.Throws<ArgumentException>(() => CrossEntropy.Forward(logits, 3, 4, new[] { 0, 1, 2 }, Ignore, new float[2], new float[3], default), "losses");
        KT.Throws<ArgumentException>(() => CrossEntropy.Forward(logits, 3, 4, new[] { 0, 1, 2 }, Ignore, new float[3], new float[3], new int[2]), "argmax");
        KT.Throws<ArgumentException>(() => CrossEntropy.Backward(logits, new float[3], new[] { 0, 1, 2 }, Ignore, 3, 4, 1f, new float[10]), "dlogits", "12", "10");
    }
}
