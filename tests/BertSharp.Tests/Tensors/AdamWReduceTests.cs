using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class AdamWReduceTests
{
    /// <summary>PyTorch's AdamW (torch.optim.AdamW, single-tensor path) in float64.</summary>
    private static void RefStep(double[] p, double[] grad, double[] m, double[] v, AdamWParams hp)
    {
        double lr = hp.LearningRate, b1 = hp.Beta1, b2 = hp.Beta2, eps = hp.Epsilon, wd = hp.WeightDecay;
        double bc1 = 1 - Math.Pow(b1, hp.Step), bc2 = 1 - Math.Pow(b2, hp.Step);
        for (int i = 0; i < p.Length; i++)
        {
            double g = hp.GradScale * grad[i];
            p[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            p[i] -= lr / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps);
        }
    }

    [Theory]
    [InlineData(1)] [InlineData(3)] [InlineData(7)] [InlineData(17)] [InlineData(33)] [InlineData(65)] [InlineData(127)] [InlineData(130)] [InlineData(200_003)]
    public void AdamWMatchesPyTorchOrderOverSeveralSteps(int n)
    {
        var p = KT.Random(n, n); var m = new float[n]; var v = new float[n];
        var rp = KT.D(p); var rm = new double[n]; var rv = new double[n];
        for (int step = 1; step <= 5; step++)
        {
            var g = KT.Random(n, 1000 * step + n);
            var hp = new AdamWParams(1e-3f, 0.9f, 0.999f, 1e-6f, 0.01f, step, 0.5f);
            AdamW.Step(p, g, m, v, hp);
            RefStep(rp, KT.D(g), rm, rv, hp);
        }
        KT.Close(rp, p, 1e-6, 1e-7, "param");
        KT.Close(rm, m, 1e-5, 1e-7, "m");
        KT.Close(rv, v, 1e-5, 1e-9, "v");
    }

    [Fact]
    public void AdamWIsIdenticalForAnyThreadCountAndPropagatesNaN()
    {
        int n = 300_001;
        var g = KT.Random(n, 5);
        KT.SameBitsForThreadCounts(() =>
        {
            var p = KT.Random(n, 6); var m = KT.Random(n, 7); var v = KT.Random(n, 8, 0f, 1f);
            AdamW.Step(p, g, m, v, new AdamWParams(1e-3f, 0.9f, 0.999f, 1e-6f, 0.01f, 3, 1f));
            return p.Concat(m).Concat(v).ToArray();
        });
        var pp = new float[] { 1, 1 }; var mm = new float[2]; var vv = new float[2];
        AdamW.Step(pp, new[] { float.NaN, 1f }, mm, vv, new AdamWParams(1e-3f, 0.9f, 0.999f, 1e-6f, 0.01f, 1, 1f));
        Assert.True(float.IsNaN(pp[0]) && float.IsNaN(mm[0]) && float.IsNaN(vv[0]));
        Assert.False(float.IsNaN(pp[1]));
    }

    [Fact]
    public void AdamWBadArgumentsThrow()
    {
        var hp = new AdamWParams(1e-3f, 0.9f, 0.999f, 1e-6f, 0.01f, 1, 1f);
        KT.Throws<ArgumentException>(() => AdamW.Step(new float[5], new float[4], new float[5], new float[5], hp), "grad", "4", "5");
        KT.Throws<ArgumentException>(() => AdamW.Step(new float[5], new float[5], new float[5], new float[6], hp), "v", "6", "5");
        KT.Throws<ArgumentOutOfRangeException>(() => AdamW.Step(new float[5], new float[5], new float[5], new float[5], hp with { Step = 0 }), "Step");
    }

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(7)] [InlineData(130)] [InlineData(16385)] [InlineData(1_000_003)]
    public void SumOfSquaresMatchesReference(int n)
    {
        var x = KT.Random(n, n, -3f, 3f);
        double expect = 0;
        foreach (var v in x) expect += (double)v * v;
        Assert.Equal(expect, Reduce.SumOfSquares(x), 1e-12 * Math.Max(1, expect));
        Assert.Equal(Math.Sqrt(expect), Reduce.L2Norm(x), 1e-12 * Math.Max(1, Math.Sqrt(expect)));
    }

    [Fact]
    public void SumOfSquaresIsIdenticalForAnyThreadCountAndPropagates()
    {
        var x = KT.Random(2_000_003, 3);
        KT.SameBitsForThreadCounts(() => new[] { (float)Reduce.SumOfSquares(x), (float)(Reduce.SumOfSquares(x) - 1e6 * Math.Floor(Reduce.SumOfSquares(x) / 1e6)) });
        int saved = KernelParallel.ThreadCount;
        try
        {
            KernelParallel.ThreadCount = 1; double a = Reduce.SumOfSquares(x);
            KernelParallel.ThreadCount = 5; double b = Reduce.SumOfSquares(x);
            Assert.Equal(BitConverter.DoubleToInt64Bits(a), BitConverter.DoubleToInt64Bits(b));
        }
        finally { KernelParallel.ThreadCount = saved; }
        x[12345] = float.NaN;
        Assert.True(double.IsNaN(Reduce.L2Norm(x)));
        x[12345] = float.PositiveInfinity;
        Assert.Equal(double.PositiveInfinity, Reduce.L2Norm(x));
    }
}
