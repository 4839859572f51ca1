using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Model;
using BertSharp.Training;
using BertSharp.Tests.Training;

namespace BertSharp.Tests.Tensors;

/// <summary>The precision seam: choosing it, the cast kernel, and the CPU device's bf16 products against a float64
/// reference whose inputs are rounded the same way.</summary>
[Collection("KernelThreads")]
public class PrecisionTests
{
    [Theory]
    [InlineData("auto", null)]
    [InlineData("", null)]
    [InlineData("fp32", Precision.Fp32)]
    [InlineData("FLOAT32", Precision.Fp32)]
    [InlineData("tf32", Precision.Tf32)]
    [InlineData("bf16", Precision.Bf16)]
    [InlineData(" bfloat16 ", Precision.Bf16)]
    public void Names_parse(string text, Precision? expected) => Assert.Equal(expected, Precisions.Parse(text));

    [Fact]
    public void An_unknown_name_is_a_usage_error_naming_what_was_set()
    {
        var e = Assert.Throws<BertSharpException>(() => Precisions.Parse("fp16", "Precision"));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.StartsWith("Precision fp16: expected auto, fp32, tf32 or bf16", e.Message);
    }

    [Fact]
    public void The_cpu_computes_in_fp32_or_bf16_over_the_same_memory()
    {
        Assert.Equal(Precision.Fp32, Device.Cpu.Precision);
        var bf = Device.Cpu.WithPrecision(Precision.Bf16);
        Assert.Equal(Precision.Bf16, bf.Precision);
        Assert.Same(bf, Device.Cpu.WithPrecision(Precision.Bf16));
        Assert.Same(Device.Cpu, bf.WithPrecision(Precision.Fp32));
        Assert.True(bf.SharesMemoryWith(Device.Cpu) && Device.Cpu.SharesMemoryWith(bf));
        var e = Assert.Throws<BertSharpException>(() => Device.Cpu.WithPrecision(Precision.Tf32));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("tf32", e.Message);
        // A tensor of one is a tensor of the other.
        using var x = Device.Cpu.Allocate(DType.Float32, 2, 2);
        using var y = bf.Allocate(DType.Float32, 2, 2);
        Device.Cpu.CopyToDevice<float>([1, 2, 3, 4], x);
        bf.Sgemm(false, false, 2, 2, 2, 1f, x, 2, x, 2, 0f, y, 2);
        Assert.Equal([7f, 10f, 15f, 22f], Device.Cpu.ToArray(y));
    }

    [Fact]
    public void Parameters_move_to_another_precision_without_a_copy()
    {
        var p = new BertParameters(TrainerTests.TinyConfig());
        var q = p.To(Device.Cpu.WithPrecision(Precision.Bf16));
        Assert.Same(p.Values, q.Values);
        Assert.Same(p.Gradients, q.Gradients);
        Assert.Same(p, p.To(Device.Cpu));
    }

    [Fact]
    public void Cast_rounds_to_nearest_even_keeps_nan_and_widens_exactly()
    {
        float[] x =
        [
            1f, -2.5f, BitConverter.UInt32BitsToSingle(0x3f808000), // a tie: 1 + 2⁻⁸ → 1 (even)
            BitConverter.UInt32BitsToSingle(0x3f818000), // a tie: → 0x3f82 (even)
            BitConverter.UInt32BitsToSingle(0x3f808001), // above the tie → up
            float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue /* rounds to inf */, 1e-40f /* denormal kept */,
            -0f,
        ];
        ushort[] expected = [0x3f80, 0xc020, 0x3f80, 0x3f82, 0x3f81, 0, 0x7f80, 0xff80, 0x7f80, 0x0001, 0x8000];
        var d = Device.Cpu;
        using var f = d.Allocate(DType.Float32, x.Length);
        using var h = d.Allocate(DType.BFloat16, x.Length);
        using var back = d.Allocate(DType.Float32, x.Length);
        d.CopyToDevice<float>(x, f);
        d.Cast(f, h);
        var bits = new ushort[x.Length];
        d.CopyToHost<ushort>(h, bits);
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(x[i])) Assert.True((bits[i] & 0x7fff) > 0x7f80 && (bits[i] & 0x40) != 0, $"NaN → {bits[i]:x4}");
            else Assert.True(expected[i] == bits[i], $"{x[i]:R} ({BitConverter.SingleToUInt32Bits(x[i]):x8}) → {bits[i]:x4}, expected {expected[i]:x4}");
        }
        d.Cast(h, back);
        var w = d.ToArray(back);
        for (int i = 0; i < x.Length; i++)
            if (!float.IsNaN(x[i])) Assert.Equal(BitConverter.UInt32BitsToSingle((uint)bits[i] << 16), w[i]);
        Assert.Throws<ArgumentException>(() => d.Cast(f, d.Allocate(DType.BFloat16, 3)));
        Assert.Throws<ArgumentException>(() => d.Cast(f, d.Allocate(DType.Int32, x.Length)));
    }

    [Theory]
    [InlineData(false, false, 37, 29, 41)]
    [InlineData(true, false, 64, 96, 128)]
    [InlineData(false, true, 130, 33, 7)]
    [InlineData(true, true, 5, 70, 1)]
    public void Bf16_products_match_a_reference_that_rounds_the_inputs(bool ta, bool tb, int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n * 10 + k);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var c0 = Enumerable.Range(0, m * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var d = Device.Cpu.WithPrecision(Precision.Bf16);
        using var ta_ = d.Allocate(DType.Float32, a.Length);
        using var tb_ = d.Allocate(DType.Float32, b.Length);
        using var tc = d.Allocate(DType.Float32, c0.Length);
        d.CopyToDevice<float>(a, ta_);
        d.CopyToDevice<float>(b, tb_);
        d.CopyToDevice<float>(c0, tc);
        int lda = ta ? m : k, ldb = tb ? k : n;
        d.Sgemm(ta, tb, m, n, k, 0.5f, ta_, lda, tb_, ldb, 0.25f, tc, n);
        var c = d.ToArray(tc);
        static double R(float x) => BFloat16.ToSingle(BFloat16.FromSingle(x));
        double worstBf = 0, worstFp = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, s32 = 0, mag = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = ta ? a[p * lda + i] : a[i * lda + p], bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                    s += R(av) * R(bv);
                    s32 += (double)av * bv;
                    mag += Math.Abs(R(av) * R(bv));
                }
                double e = 0.5 * s + 0.25 * c0[i * n + j], e32 = 0.5 * s32 + 0.25 * c0[i * n + j];
                double tol = 1e-6 * (mag + 1);
                worstBf = Math.Max(worstBf, Math.Abs(c[i * n + j] - e) / tol);
                worstFp = Math.Max(worstFp, Math.Abs(c[i * n + j] - e32) / tol);
            }
        Assert.True(worstBf <= 1, $"bf16 products off the rounded-input reference by {worstBf:F2}× float32 tolerance");
        if (k > 1) Assert.True(worstFp > 1, "the products were not computed on bf16-rounded inputs");
    }

    [Fact]
    public void A_bf16_model_gives_the_same_bits_for_any_thread_count()
    {
        float[] Run(int threads)
        {
            int saved = KernelParallel.ThreadCount;
            try
            {
                KernelParallel.ThreadCount = threads;
                var p = new BertParameters(TrainerTests.TinyConfig(), device: Device.Cpu.WithPrecision(Precision.Bf16));
                p.Initialize(3);
                var model = new BertForPreTraining(p);
                var data = new SyntheticPretrainingData(64, 4, 16, 3, 5, batchesPerEpoch: 10);
                model.Forward(data.NextTrainingBatch(), new DropoutContext(true, 1, 0));
                model.Backward();
                return p.ToArray().Concat(Device.Cpu.ToArray(p.Gradients)).ToArray();
            }
            finally { KernelParallel.ThreadCount = saved; }
        }
        var one = Run(1);
        Assert.Equal(one, Run(2));
        Assert.Equal(one, Run(3));
    }

    [Fact]
    public void Bf16_operands_in_memory_give_what_the_bf16_device_gives_on_float32_operands()
    {
        int m = 19, n = 45, k = 33;
        var rng = new Random(4);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var d = Device.Cpu;
        var bf = d.WithPrecision(Precision.Bf16);
        using var fa = d.Allocate(DType.Float32, a.Length);
        using var fb = d.Allocate(DType.Float32, b.Length);
        using var ha = d.Allocate(DType.BFloat16, a.Length);
        using var fc = d.Allocate(DType.Float32, m * n);
        using var gc = d.Allocate(DType.Float32, m * n);
        using var hc = d.Allocate(DType.BFloat16, m * n);
        using var wc = d.Allocate(DType.Float32, m * n);
        d.CopyToDevice<float>(a, fa);
        d.CopyToDevice<float>(b, fb);
        d.Cast(fa, ha);
        bf.Sgemm(false, false, m, n, k, 1f, fa, k, fb, n, 0f, fc, n);
        d.Sgemm(false, false, m, n, k, 1f, ha, k, fb, n, 0f, gc, n); // the fp32 device: a bf16 A is bf16 already
        Assert.Equal(d.ToArray(fc), d.ToArray(gc));
        d.Sgemm(false, false, m, n, k, 1f, ha, k, fb, n, 0f, hc, n); // a bf16 C: the float32 result rounded once
        d.Cast(hc, wc);
        Assert.Equal(d.ToArray(fc).Select(BFloat16.Round), d.ToArray(wc));
    }
}
