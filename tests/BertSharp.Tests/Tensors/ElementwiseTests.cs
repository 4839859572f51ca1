using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class ElementwiseTests
{
    public static IEnumerable<object[]> Sizes() => KT.AwkwardSizes.Append(100_003).Select(n => new object[] { n });

    [Theory, MemberData(nameof(Sizes))]
    public void AddMatchesReference(int n)
    {
        var y = KT.Random(n, n); var x = KT.Random(n, n + 1);
        var expect = y.Zip(x, (a, b) => (double)a + b).ToArray();
        Elementwise.Add(y, x);
        KT.Close(expect, y, 1e-7, 1e-37, "y += x");
    }

    // bf16: y + x in float32 rounded once, within half a bf16 ulp of float64 on the same inputs; y may alias x.
    [Theory, MemberData(nameof(Sizes))]
    public void Bf16AddMatchesReference(int n)
    {
        var yh = KT.Bf16(KT.Random(n, n + 2)); var xh = KT.Bf16(KT.Random(n, n + 3));
        var y = KT.Widen(yh); var x = KT.Widen(xh);
        Elementwise.Add<ushort>(yh, xh);
        KT.Close(y.Zip(x, (a, b) => (double)a + b).ToArray(), KT.Widen(yh), KT.Bf16Rtol, 1e-37, "y += x bf16");
        Assert.Equal(KT.Bf16(y.Zip(x, (a, b) => a + b).ToArray()), yh); // exactly the float32 sum, rounded once
        Elementwise.Add<ushort>(xh, xh);
        KT.Close(Array.ConvertAll(x, v => 2.0 * v), KT.Widen(xh), 0, 0, "x += x bf16"); // doubling is exact
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        var xh = KT.Bf16(KT.Random(300_001, 4));
        KT.SameBitsForThreadCounts(() => { var y = KT.Bf16(KT.Random(xh.Length, 5)); Elementwise.Add<ushort>(y, xh); return KT.Widen(y); });
    }

    [Fact]
    public void NaNInfinityAndBadArguments()
    {
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 2e38f, 3f];
        var yh = KT.Bf16(special); var xh = KT.Bf16([1f, 1f, float.PositiveInfinity, 2e38f, -3f]);
        Elementwise.Add<ushort>(yh, xh);
        var y = KT.Widen(yh);
        Assert.True(float.IsNaN(y[0])); Assert.Equal(float.PositiveInfinity, y[1]); Assert.True(float.IsNaN(y[2]));
        Assert.Equal(float.PositiveInfinity, y[3]); Assert.Equal(0f, y[4]); // 4e38 overflows to infinity
        KT.Throws<ArgumentException>(() => Elementwise.Add<ushort>(new ushort[3], new ushort[4]), "x", "4", "3");
        Assert.Throws<ArgumentException>(() => Elementwise.Add<double>(new double[3], new double[3]));
    }
}
