using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class DropoutTests
{
    [Theory]
    // Known-answer vectors of Philox4x32-10 (Random123's kat_vectors): counter, key -> output.
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesKnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        Dropout.Philox(c0, c1, c2, c3, k0, k1, out uint o0, out uint o1, out uint o2, out uint o3);
        Assert.Equal((e0, e1, e2, e3), (o0, o1, o2, o3));
    }

    [Theory]
    [InlineData(1)] [InlineData(3)] [InlineData(7)] [InlineData(17)] [InlineData(33)] [InlineData(65)] [InlineData(127)] [InlineData(130)] [InlineData(100_001)]
    public void ForwardIsXTimesMaskOverKeep(int n)
    {
        const float p = 0.1f;
        var x = KT.Random(n, n);
        var y = new float[n];
        Dropout.Forward(x, y, p, 1234, 77, 5);
        float scale = 1f / (1f - p);
        for (int i = 0; i < n; i++)
        {
            bool kept = Dropout.IsKept(i, p, 1234, 77, 5);
            Assert.Equal(kept ? x[i] * scale : 0f, y[i]);
        }
    }

    // bf16 x/y: the same Philox mask, x·scale computed in float32 and rounded once — so exactly the float32 result on
    // the widened input rounded to bf16, and within half a bf16 ulp of float64. Offsets 0, 4 (vector path from a later
    // block) and 3 (element by element) cover every code path.
    [Theory]
    [InlineData(1, 0)] [InlineData(3, 0)] [InlineData(7, 0)] [InlineData(17, 4)] [InlineData(33, 3)] [InlineData(65, 0)]
    [InlineData(127, 3)] [InlineData(130, 4)] [InlineData(100_001, 0)] [InlineData(100_001, 3)]
    public void Bf16UsesTheFloat32MaskAndMatchesReference(int n, long offset)
    {
        const float p = 0.1f;
        var xh = KT.Bf16(KT.Random(n, n + 50)); var x = KT.Widen(xh);
        var yh = new ushort[n];
        Dropout.Forward<ushort>(xh, yh, p, 1234, 77, 5, offset);
        var expect = new double[n];
        for (int i = 0; i < n; i++) expect[i] = Dropout.IsKept(offset + i, p, 1234, 77, 5) ? x[i] / (1 - (double)p) : 0;
        KT.Close(expect, KT.Widen(yh), KT.Bf16Rtol, 1e-37, "dropout bf16");
        var y = new float[n];
        Dropout.Forward(x, y, p, 1234, 77, 5, offset);
        Assert.Equal(KT.Bf16(y), yh);

        // Backward: the same mask on dy; dx may alias dy.
        var dyh = KT.Bf16(KT.Random(n, n + 51)); var dy = KT.Widen(dyh);
        var dxh = new ushort[n];
        Dropout.Backward<ushort>(dyh, dxh, p, 1234, 77, 5, offset);
        for (int i = 0; i < n; i++) expect[i] = Dropout.IsKept(offset + i, p, 1234, 77, 5) ? dy[i] / (1 - (double)p) : 0;
        KT.Close(expect, KT.Widen(dxh), KT.Bf16Rtol, 1e-37, "dropout' bf16");
        Dropout.Backward<ushort>(dyh, dyh, p, 1234, 77, 5, offset);
        Assert.Equal(dxh, dyh);
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        var xh = KT.Bf16(KT.Random(300_001, 52));
        KT.SameBitsForThreadCounts(() => { var y = new ushort[xh.Length]; Dropout.Forward<ushort>(xh, y, 0.1f, 3, 4, 5); return KT.Widen(y); });
    }

    [Fact]
    public void DeviceRefusesMixedActivationTypes()
    {
        var d = Device.Cpu;
        int n = 37;
        var xh = KT.Bf16(KT.Random(n, 53));
        using var x = d.Allocate(DType.BFloat16, n);
        using var y = d.Allocate(DType.BFloat16, n);
        using var y32 = d.Allocate(DType.Float32, n);
        d.CopyToDevice<ushort>(xh, x);
        d.DropoutForward(x, y, 0.25f, 9, 8, 7);
        var got = new ushort[n]; var want = new ushort[n];
        d.CopyToHost<ushort>(y, got);
        Dropout.Forward<ushort>(xh, want, 0.25f, 9, 8, 7);
        Assert.Equal(want, got);
        d.DropoutBackward(x, y, 0.25f, 9, 8, 7);
        d.CopyToHost<ushort>(y, got);
        Assert.Equal(want, got);
        KT.Throws<ArgumentException>(() => d.DropoutForward(x, y32, 0.25f, 9, 8, 7), "dropout", "BFloat16", "Float32");
        KT.Throws<ArgumentException>(() => d.DropoutBackward(y32, x, 0.25f, 9, 8, 7), "dropout backward", "Float32", "BFloat16");
        Assert.Throws<ArgumentException>(() => Dropout.Forward<double>(new double[3], new double[3], 0.1f, 1, 1, 1));
    }

    [Fact]
    public void MaskIsAPureFunctionOfSeedStepSiteAndIndex()
    {
        int n = 100_000;
        var ones = Enumerable.Repeat(1f, n).ToArray();
        float[] Mask(ulong seed, ulong step, uint site) { var y = new float[n]; Dropout.Forward(ones, y, 0.1f, seed, step, site); return y; }
        var a = Mask(42, 7, 3);
        Assert.Equal(a, Mask(42, 7, 3));
        foreach (var other in new[] { Mask(43, 7, 3), Mask(42, 8, 3), Mask(42, 7, 4), Mask(42, 7 + (1UL << 32), 3), Mask(42 + (1UL << 32), 7, 3) })
        {
            int differ = 0;
            for (int i = 0; i < n; i++) if (a[i] != other[i]) differ++;
            // Independent masks at p = 0.1 differ in 2·0.1·0.9 = 18% of places.
            Assert.InRange(differ / (double)n, 0.17, 0.19);
        }
    }

    [Theory]
    [InlineData(0.1f)] [InlineData(0.5f)] [InlineData(0.9f)]
    public void KeepFractionAndScaleAreRight(float p)
    {
        int n = 1 << 20;
        var ones = Enumerable.Repeat(1f, n).ToArray();
        var y = new float[n];
        Dropout.Forward(ones, y, p, 99, 1, 0);
        int kept = 0;
        foreach (var v in y)
        {
            if (v == 0f) continue;
            kept++;
            Assert.Equal(1f / (1f - p), v);
        }
        double frac = kept / (double)n, sd = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange(frac, 1 - p - 5 * sd, 1 - p + 5 * sd);
        // Mean is preserved in expectation.
        Assert.InRange(y.Average(v => (double)v), 1 - 5 * sd / (1 - p), 1 + 5 * sd / (1 - p));
    }

    [Fact]
    public void BackwardRecomputesTheForwardMask()
    {
        int n = 10_007;
        var x = KT.Random(n, 1); var y = new float[n];
        Dropout.Forward(x, y, 0.3f, 5, 6, 7);
        var dy = KT.Random(n, 2); var dx = new float[n];
        Dropout.Backward(dy, dx, 0.3f, 5, 6, 7);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(y[i] == 0f, dx[i] == 0f);
            if (y[i] != 0f) Assert.Equal(dy[i] * (1f / (1f - 0.3f)), dx[i]);
        }
        // dx may alias dy.
        Dropout.Backward(dy, dy, 0.3f, 5, 6, 7);
        Assert.Equal(dx, dy);
        // The backward is the forward's Jacobian: FD of a float64 twin of the forward.
        var xs = KT.D(x.AsSpan(0, 40).ToArray()); var w = KT.D(KT.Random(40, 3));
        var fd = KT.FiniteDiff(v => v.Select((e, i) => Dropout.IsKept(i, 0.3f, 5, 6, 7) ? e / (1 - (double)0.3f) : 0).ToArray(), xs, w);
        var dxw = new float[40];
        Dropout.Backward(Array.ConvertAll(w, v => (float)v), dxw, 0.3f, 5, 6, 7);
        KT.Close(fd, dxw, 1e-6, 1e-7);
    }

    [Fact]
    public void EdgeProbabilitiesAndSpecialValues()
    {
        var x = new[] { 1f, float.NaN, float.PositiveInfinity, -2f, 5f };
        var y = new float[5];
        Dropout.Forward(x, y, 0f, 1, 1, 1);
        Assert.Equal(x, y);
        Dropout.Forward(x, y, 1f, 1, 1, 1);
        Assert.Equal(0f, y[0]); Assert.True(float.IsNaN(y[1])); Assert.True(float.IsNaN(y[2])); // x·0, as IEEE says
        KT.Throws<ArgumentOutOfRangeException>(() => Dropout.Forward(x, y, 1.5f, 1, 1, 1), "p", "1.5");
        KT.Throws<ArgumentOutOfRangeException>(() => Dropout.Forward(x, y, float.NaN, 1, 1, 1), "p");
        KT.Throws<ArgumentException>(() => Dropout.Forward(x, new float[4], 0.1f, 1, 1, 1), "y", "4", "5");
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        var x = KT.Random(300_001, 9);
        KT.SameBitsForThreadCounts(() => { var y = new float[x.Length]; Dropout.Forward(x, y, 0.1f, 3, 4, 5); return y; });
    }
}
