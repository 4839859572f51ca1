using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

/// <summary>The device's memory and bookkeeping kernels against plain reference loops.</summary>
public class CpuDeviceTests
{
    private static readonly Device D = Device.Cpu;

    private static DeviceTensor Ints(params int[] values)
    {
        var t = D.Allocate(DType.Int32, values.Length);
        D.CopyToDevice<int>(values, t);
        return t;
    }

    private static DeviceTensor Floats(params float[] values)
    {
        var t = D.Allocate(DType.Float32, values.Length);
        D.CopyToDevice<float>(values, t);
        return t;
    }

    private static int[] IntsOf(TensorView v)
    {
        var a = new int[v.Length];
        D.CopyToHost<int>(v, a);
        return a;
    }

    [Fact]
    public void Tensors_start_zeroed_and_copies_round_trip_through_views()
    {
        var t = D.Allocate(DType.Float32, 3, 4);
        Assert.Equal([3, 4], t.Shape);
        Assert.Equal(12, t.Length);
        Assert.All(D.ToArray(t), v => Assert.Equal(0f, v));
        D.CopyToDevice<float>([1f, 2f, 3f], t.View(5, 3));
        var view = t.View(4, 5).Slice(1, 3);
        Assert.Equal([1f, 2f, 3f], D.ToArray(view));
        var u = D.Allocate(DType.Float32, 3);
        D.Copy(view, u);
        D.Zero(t.View(5, 1));
        Assert.Equal([1f, 2f, 3f], D.ToArray(u));
        Assert.Equal(0f, D.ToArray(t)[5]);
    }

    [Fact]
    public void Views_and_copies_refuse_what_does_not_fit()
    {
        var t = D.Allocate(DType.Float32, 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.View(6, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.View(2, 4).Slice(3, 2));
        Assert.Throws<ArgumentException>(() => D.CopyToDevice<float>(new float[3], t.View(0, 4)));
        Assert.Throws<ArgumentException>(() => D.CopyToDevice<int>(new int[8], t)); // element type differs
        Assert.Throws<ArgumentException>(() => D.Copy(t.View(0, 2), D.Allocate(DType.Int32, 2)));
    }

    [Fact]
    public void Add_runs_on_bf16_activations_and_refuses_mixed_types()
    {
        var yh = KT.Bf16(KT.Random(41, 1)); var xh = KT.Bf16(KT.Random(41, 2));
        var y = D.Allocate(DType.BFloat16, 41);
        var x = D.Allocate(DType.BFloat16, 41);
        var x32 = Floats(KT.Widen(xh));
        D.CopyToDevice<ushort>(yh, y);
        D.CopyToDevice<ushort>(xh, x);
        D.Add(y, x);
        var got = new ushort[41];
        D.CopyToHost<ushort>(y, got);
        Elementwise.Add<ushort>(yh, xh);
        Assert.Equal(yh, got);
        KT.Throws<ArgumentException>(() => D.Add(y, x32), "add", "BFloat16", "Float32");
        KT.Throws<ArgumentException>(() => D.Add(x32, y), "add", "Float32", "BFloat16");
    }

    [Fact]
    public void Attention_mask_is_zero_for_tokens_and_the_mask_value_for_padding()
    {
        int[] mask = [1, 1, 0, 1, 0, 0];
        var additive = D.Allocate(DType.Float32, mask.Length);
        D.AttentionMask(Ints(mask), additive, -10000f);
        Assert.Equal(mask.Select(m => m != 0 ? 0f : -10000f), D.ToArray(additive));
    }

    [Theory]
    [InlineData(12, 4, 0)]  // position ids of 3 rows of 4
    [InlineData(5, 1, 7)]   // the [CLS] row of each of 5 sequences of 7
    [InlineData(9, 3, 10)]
    public void Iota_gives_period_and_stride(int n, int period, int stride)
    {
        var o = D.Allocate(DType.Int32, n);
        D.Iota(o, period, stride);
        Assert.Equal(Enumerable.Range(0, n).Select(i => i / period * stride + i % period), IntsOf(o));
    }

    [Fact]
    public void Masked_lm_targets_give_rows_and_ignore_weight_zero_slots()
    {
        int[] positions = [1, 4, 0, 2, 3, 0];
        int[] ids = [11, 12, 0, 13, 14, 0];
        float[] weights = [1, 1, 0, 1, 1, 0];
        var rows = D.Allocate(DType.Int32, 6);
        var targets = D.Allocate(DType.Int32, 6);
        D.MaskedLmTargets(Ints(positions), Ints(ids), Floats(weights), predictionsPerRow: 3, seqLength: 8, ignoreIndex: -1, rows, targets);
        Assert.Equal([1, 4, 0, 8 + 2, 8 + 3, 8 + 0], IntsOf(rows));
        Assert.Equal([11, 12, -1, 13, 14, -1], IntsOf(targets));
    }

    [Fact]
    public void Loss_statistics_sum_in_double_and_count_only_real_targets()
    {
        var rng = new SplitMix64(5);
        int n = 1000;
        var losses = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 10)).ToArray();
        var targets = Enumerable.Range(0, n).Select(i => i % 7 == 0 ? -1 : i % 5).ToArray();
        var argmax = Enumerable.Range(0, n).Select(i => i % 3 == 0 ? i % 5 : 4 - i % 5).ToArray();
        var stats = D.Allocate(DType.Float32, 3);
        D.LossStatistics(Floats(losses), Ints(argmax), Ints(targets), -1, stats);
        double sum = 0;
        int correct = 0, count = 0;
        for (int i = 0; i < n; i++)
        {
            if (targets[i] == -1) continue;
            sum += losses[i];
            count++;
            if (argmax[i] == targets[i]) correct++;
        }
        var s = D.ToArray(stats);
        Assert.Equal((float)sum, s[0]);
        Assert.Equal(correct, s[1]);
        Assert.Equal(count, s[2]);
    }
}
