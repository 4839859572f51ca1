using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class ActivationTests
{
    private static float[] Inputs(int n, int seed)
    {
        var x = KT.Random(n, seed, -6f, 6f);
        // Include the tails and special points.
        float[] special = { 0f, -0f, 1e-30f, -1e-30f, 1e-4f, -1e-4f, 0.5f, -0.5f, 3f, -3f, 5.5f, -5.5f, 9f, -9f, 12f, -12f, 40f, -40f };
        for (int i = 0; i < special.Length && i < n; i++) x[i] = special[i];
        return x;
    }

    [Fact]
    public void ErfReferenceIsSane()
    {
        // Known values (Abramowitz & Stegun tables) and the series/continued-fraction seam.
        Assert.Equal(0.8427007929497149, Ref.Erf(1), 14);
        Assert.Equal(0.9953222650189527, Ref.Erf(2), 14);
        Assert.Equal(Ref.Erf(2.9999999), Ref.Erf(3.0000001), 1e-10);
        Assert.Equal(2.209049699858544e-5, 1 - Ref.Erf(3), 15);
    }

    // bf16 storage: inputs are bf16 values, outputs the float32 result rounded once (half a bf16 ulp) — checked against
    // float64 on the same (rounded) inputs, every size class, and the same bits for any thread count.
    [Theory]
    [InlineData(1)] [InlineData(7)] [InlineData(17)] [InlineData(130)] [InlineData(100003)]
    public void Bf16ActivationsMatchReference(int n)
    {
        var xh = KT.Bf16(Inputs(n, n + 40));
        var x = KT.Widen(xh);
        var dyh = KT.Bf16(KT.Random(n, n + 41));
        var dy = KT.Widen(dyh);
        var yh = new ushort[n];
        Activations.Gelu<ushort>(xh, yh);
        KT.Close(Array.ConvertAll(x, v => Ref.Gelu(v)), KT.Widen(yh), KT.Bf16Rtol, 1e-37, "gelu bf16");
        Activations.GeluBackward<ushort>(xh, dyh, yh);
        KT.Close(Enumerable.Range(0, n).Select(i => dy[i] * Ref.GeluGrad(x[i])).ToArray(), KT.Widen(yh), KT.Bf16Rtol, 1e-7, "gelu' bf16");
        Activations.GeluTanh<ushort>(xh, yh);
        KT.Close(Array.ConvertAll(x, v => Ref.GeluTanh(v)), KT.Widen(yh), KT.Bf16Rtol, 1e-37, "gelu_tanh bf16");
        Activations.GeluTanhBackward<ushort>(xh, dyh, yh);
        KT.Close(Enumerable.Range(0, n).Select(i => dy[i] * Ref.GeluTanhGrad(x[i])).ToArray(), KT.Widen(yh), KT.Bf16Rtol, 1e-7, "gelu_tanh' bf16");
        Activations.Tanh<ushort>(xh, yh);
        KT.Close(Array.ConvertAll(x, v => Math.Tanh(v)), KT.Widen(yh), KT.Bf16Rtol, 1e-37, "tanh bf16");
        var th = (ushort[])yh.Clone();
        var t = KT.Widen(th);
        Activations.TanhBackward<ushort>(th, dyh, yh);
        KT.Close(Enumerable.Range(0, n).Select(i => dy[i] * (1 - (double)t[i] * t[i])).ToArray(), KT.Widen(yh), KT.Bf16Rtol, 1e-7, "tanh' bf16");
        KT.SameBitsForThreadCounts(() =>
        {
            var o = new ushort[n];
            Activations.GeluBackward<ushort>(xh, dyh, o);
            return KT.Widen(o);
        });
    }

    [Theory]
    [InlineData(1)] [InlineData(3)] [InlineData(7)] [InlineData(17)] [InlineData(33)] [InlineData(65)] [InlineData(127)] [InlineData(130)] [InlineData(100003)]
    public void GeluMatchesReference(int n)
    {
        var x = Inputs(n, n);
        var y = new float[n];
        Activations.Gelu(x, y);
        KT.Close(Array.ConvertAll(x, v => Ref.Gelu(v)), y, 5e-7, 1e-37, "gelu");
        var dy = KT.Random(n, n + 1);
        var dx = new float[n];
        Activations.GeluBackward(x, dy, dx);
        KT.Close(Array.ConvertAll(Enumerable.Range(0, n).ToArray(), i => dy[i] * Ref.GeluGrad(x[i])), dx, 2e-6, 1e-7, "gelu'");
    }

    [Theory]
    [InlineData(1)] [InlineData(7)] [InlineData(33)] [InlineData(130)] [InlineData(100003)]
    public void GeluTanhMatchesReference(int n)
    {
        var x = Inputs(n, n + 10);
        var y = new float[n];
        Activations.GeluTanh(x, y);
        // The argument of exp, −2u ≈ −2√(2/π)(x + 0.044715x³), carries a few float roundings: ~1e-6 relative in the tail.
        KT.Close(Array.ConvertAll(x, v => Ref.GeluTanh(v)), y, 5e-6, 1e-37, "gelu_tanh");
        var dy = KT.Random(n, n + 11);
        var dx = new float[n];
        Activations.GeluTanhBackward(x, dy, dx);
        KT.Close(Array.ConvertAll(Enumerable.Range(0, n).ToArray(), i => dy[i] * Ref.GeluTanhGrad(x[i])), dx, 3e-6, 1e-7, "gelu_tanh'");
    }

    [Theory]
    [InlineData(1)] [InlineData(17)] [InlineData(130)] [InlineData(4099)]
    public void TanhMatchesReference(int n)
    {
        var x = Inputs(n, n + 20);
        var y = new float[n];
        Activations.Tanh(x, y);
        KT.Close(Array.ConvertAll(x, v => Math.Tanh(v)), y, 1e-6, 1e-30, "tanh");
        var dy = KT.Random(n, n + 21);
        var dx = new float[n];
        Activations.TanhBackward(y, dy, dx);
        KT.Close(Array.ConvertAll(Enumerable.Range(0, n).ToArray(), i => dy[i] * (1 - (double)y[i] * y[i])), dx, 1e-6, 1e-7, "tanh'");
    }

    [Fact]
    public void BackwardsMatchFiniteDifferences()
    {
        var x = KT.D(Inputs(40, 30)); var w = KT.D(KT.Random(40, 31));
        var fdGelu = KT.FiniteDiff(v => Array.ConvertAll(v, Ref.Gelu), x, w);
        var fdTanhGelu = KT.FiniteDiff(v => Array.ConvertAll(v, Ref.GeluTanh), x, w);
        var fdTanh = KT.FiniteDiff(v => Array.ConvertAll(v, Math.Tanh), x, w);
        var xf = Array.ConvertAll(x, v => (float)v); var wf = Array.ConvertAll(w, v => (float)v);
        var dx = new float[40];
        Activations.GeluBackward(xf, wf, dx); KT.Close(fdGelu, dx, 1e-5, 1e-6, "gelu fd");
        Activations.GeluTanhBackward(xf, wf, dx); KT.Close(fdTanhGelu, dx, 1e-5, 1e-6, "gelu_tanh fd");
        var y = new float[40]; Activations.Tanh(xf, y);
        Activations.TanhBackward(y, wf, dx); KT.Close(fdTanh, dx, 1e-5, 1e-6, "tanh fd");
    }

    [Fact]
    public void OutputsMayAliasInputs()
    {
        var x = Inputs(1001, 40); var expect = new float[x.Length];
        Activations.Gelu(x, expect);
        var inplace = (float[])x.Clone(); Activations.Gelu(inplace, inplace);
        Assert.Equal(expect, inplace);
        var dy = KT.Random(x.Length, 41); var dxExpect = new float[x.Length];
        Activations.GeluBackward(x, dy, dxExpect);
        Activations.GeluBackward(x, dy, dy);
        Assert.Equal(dxExpect, dy);
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        var x = Inputs(200_003, 50); var dy = KT.Random(x.Length, 51);
        KT.SameBitsForThreadCounts(() => { var y = new float[x.Length]; Activations.Gelu(x, y); return y; });
        KT.SameBitsForThreadCounts(() => { var y = new float[x.Length]; Activations.GeluBackward(x, dy, y); return y; });
        KT.SameBitsForThreadCounts(() => { var y = new float[x.Length]; Activations.GeluTanh(x, y); return y; });
        KT.SameBitsForThreadCounts(() => { var y = new float[x.Length]; Activations.GeluTanhBackward(x, dy, y); return y; });
    }

    [Fact]
    public void NaNAndInfinityPropagate()
    {
        var x = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1f };
        var y = new float[4];
        Activations.Gelu(x, y);
        Assert.True(float.IsNaN(y[0])); Assert.Equal(float.PositiveInfinity, y[1]);
        Assert.True(float.IsNaN(y[2])); // −∞·Φ(−∞) = −∞·0, as PyTorch gives
        Activations.GeluTanh(x, y);
        Assert.True(float.IsNaN(y[0])); Assert.Equal(float.PositiveInfinity, y[1]);
        Activations.Tanh(x, y);
        Assert.True(float.IsNaN(y[0])); Assert.Equal(1f, y[1]); Assert.Equal(-1f, y[2]);
        Activations.GeluBackward(x, new float[] { 1, 1, 1, float.NaN }, y);
        Assert.True(float.IsNaN(y[0])); Assert.True(float.IsNaN(y[3]));
    }

    [Fact]
    public void LengthMismatchThrows()
    {
        KT.Throws<ArgumentException>(() => Activations.Gelu(new float[5], new float[4]), "y", "4", "5");
        KT.Throws<ArgumentException>(() => Activations.GeluBackward(new float[5], new float[5], new float[3]), "dx", "3", "5");
        KT.Throws<ArgumentException>(() => Activations.TanhBackward(new float[5], new float[2], new float[5]), "dy");
    }
}

public class VMathTests
{
    [Fact]
    public void ExpIsAccurateAndHandlesSpecialValues()
    {
        var rng = new Random(1);
        var xs = new float[4096];
        for (int i = 0; i < xs.Length; i++) xs[i] = (float)(-87 + 175.7 * rng.NextDouble());
        xs[0] = 0f; xs[1] = -86.9f; xs[2] = 88.7f; xs[3] = 1e-8f;
        for (int i = 0; i < xs.Length; i += 8)
        {
            var v = BertSharp.Tensors.VMath.Exp(System.Runtime.Intrinsics.Vector256.Create(xs, i));
            for (int k = 0; k < 8; k++)
            {
                double e = Math.Exp(xs[i + k]);
                Assert.True(Math.Abs(v[k] - e) <= 2.5e-7 * e, $"exp({xs[i + k]:R}) = {v[k]:R}, expected {e:R}");
            }
        }
        for (int i = 0; i < xs.Length; i += 8)
        {
            var v = System.Runtime.Intrinsics.Vector256.Create(xs, i);
            v = -System.Runtime.Intrinsics.Vector256.Abs(v);
            Assert.Equal(BertSharp.Tensors.VMath.Exp(v), BertSharp.Tensors.VMath.ExpNonPositive(v));
        }
        var s = BertSharp.Tensors.VMath.Exp(System.Runtime.Intrinsics.Vector256.Create(float.NegativeInfinity, float.PositiveInfinity, float.NaN, -100f, 100f, 89f, -0f, 1f));
        Assert.Equal(0f, s[0]); Assert.Equal(float.PositiveInfinity, s[1]); Assert.True(float.IsNaN(s[2]));
        Assert.Equal(0f, s[3]); Assert.Equal(float.PositiveInfinity, s[4]); Assert.Equal(float.PositiveInfinity, s[5]);
        Assert.Equal(1f, s[6]); Assert.Equal(MathF.E, s[7], 6);
    }
}
