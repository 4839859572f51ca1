using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Tensors;

namespace BertSharp.Tests.Model;

[Collection("KernelThreads")]
public class LogitsCrossEntropyTests
{
    [Fact]
    public void Fused_bias_and_cross_entropy_match_a_float64_reference_with_any_thread_count()
    {
        const int rows = 37, cols = 53, ignore = -1;
        var rng = new SplitMix64(4);
        var logits = new float[rows * cols];
        var bias = new float[cols];
        var targets = new int[rows];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(4 * rng.NextGaussian());
        for (int i = 0; i < cols; i++) bias[i] = (float)rng.NextGaussian();
        for (int r = 0; r < rows; r++) targets[r] = r % 7 == 3 ? ignore : rng.NextInt(cols);
        const float scale = 0.25f;

        // Reference in float64.
        var refLoss = new double[rows];
        var refD = new double[rows * cols];
        var refDb = new double[cols];
        var refArg = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < cols; c++)
            {
                double z = (double)logits[r * cols + c] + bias[c];
                if (z > max) { max = z; refArg[r] = c; }
            }
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += Math.Exp((double)logits[r * cols + c] + bias[c] - max);
            double lse = max + Math.Log(sum);
            if (targets[r] == ignore) continue;
            refLoss[r] = lse - ((double)logits[r * cols + targets[r]] + bias[targets[r]]);
            for (int c = 0; c < cols; c++)
            {
                double d = scale * (Math.Exp((double)logits[r * cols + c] + bias[c] - lse) - (c == targets[r] ? 1 : 0));
                refD[r * cols + c] = d;
                refDb[c] += d;
            }
        }

        int saved = KernelParallel.ThreadCount;
        try
        {
            float[]? firstD = null, firstDb = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                KernelParallel.ThreadCount = threads;
                var l = (float[])logits.Clone();
                var loss = new float[rows];
                var lse = new float[rows];
                var arg = new int[rows];
                var db = new float[cols];
                db[0] = 1f; // accumulates
                var scratch = new float[LogitsCrossEntropy.PartialsLength(rows, cols)];
                LogitsCrossEntropy.Forward(l, bias, rows, cols, targets, ignore, loss, lse, arg);
                for (int r = 0; r < rows; r++)
                {
                    Assert.Equal(refLoss[r], loss[r], 1e-4);
                    Assert.Equal(refArg[r], arg[r]);
                }
                LogitsCrossEntropy.Backward(l, lse, targets, ignore, rows, cols, scale, db, scratch);
                for (int i = 0; i < l.Length; i++) Assert.Equal(refD[i], l[i], 1e-6);
                Assert.Equal(1 + refDb[0], db[0], 1e-5);
                for (int c = 1; c < cols; c++) Assert.Equal(refDb[c], db[c], 1e-5);
                if (firstD is null) (firstD, firstDb) = (l, db);
                else
                {
                    Assert.Equal(firstD, l);
                    Assert.Equal(firstDb, db);
                }
            }
        }
        finally { KernelParallel.ThreadCount = saved; }
    }

    // bf16 logits, d(logits) written over them in bf16: the stored z = logits + bias and the gradient are the float32
    // kernel's values rounded once (checked bitwise against the float32 kernel on the widened inputs); losses and the
    // bias gradient come from float32 values before rounding (bitwise the float32 kernel's); all close to float64 on the
    // same inputs, and the same bits for any thread count.
    [Theory]
    [InlineData(37, 53)]
    [InlineData(3, 1)]
    [InlineData(17, 7)]
    [InlineData(20, 1031)]
    public void Bf16_logits_match_a_float64_reference_and_the_rounded_float32_kernel_with_any_thread_count(int rows, int cols)
    {
        const int ignore = -1;
        const float scale = 0.25f;
        var rng = new SplitMix64((ulong)(rows * 1000 + cols));
        var lh = new ushort[rows * cols];
        var bias = new float[cols];
        var targets = new int[rows];
        for (int i = 0; i < lh.Length; i++) lh[i] = BFloat16.FromSingle((float)(4 * rng.NextGaussian()));
        for (int i = 0; i < cols; i++) bias[i] = (float)rng.NextGaussian();
        for (int r = 0; r < rows; r++) targets[r] = r % 7 == 3 ? ignore : rng.NextInt(cols);
        var x = KT.Widen(lh);

        // Forward reference on the widened logits: z in float64.
        var refLoss = new double[rows];
        var refZ = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) refZ[r * cols + c] = (double)x[r * cols + c] + bias[c];
            double lse = Ref.LogSumExp(refZ, r * cols, cols);
            refLoss[r] = targets[r] == ignore ? 0 : lse - refZ[r * cols + targets[r]];
        }

        // The float32 kernel on the widened logits: what the bf16 kernel must give, rounded.
        var z32 = (float[])x.Clone();
        var loss32 = new float[rows]; var lse32 = new float[rows]; var arg32 = new int[rows];
        LogitsCrossEntropy.Forward(z32, bias, rows, cols, targets, ignore, loss32, lse32, arg32);

        KT.SameBitsForThreadCounts(() =>
        {
            var l = (ushort[])lh.Clone();
            var loss = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
            LogitsCrossEntropy.Forward<ushort>(l, bias, rows, cols, targets, ignore, loss, lse, arg);
            KT.Close(refLoss, loss, 1e-5, 1e-5, "loss");
            KT.Close(refZ, KT.Widen(l), KT.Bf16Rtol, 1e-30, "z = logits + bias");
            Assert.Equal(loss32, loss); Assert.Equal(lse32, lse); Assert.Equal(arg32, arg);
            Assert.Equal(KT.Bf16(z32), l);

            // Backward reference on its inputs: the stored (bf16) z and the forward's logSumExp.
            var zs = KT.Widen(l);
            var refD = new double[rows * cols];
            var refDb = new double[cols];
            refDb[0] = 1;
            for (int r = 0; r < rows; r++)
            {
                if (targets[r] == ignore) continue;
                for (int c = 0; c < cols; c++)
                {
                    double d = scale * (Math.Exp((double)zs[r * cols + c] - lse[r]) - (c == targets[r] ? 1 : 0));
                    refD[r * cols + c] = d;
                    refDb[c] += d;
                }
            }
            var db = new float[cols];
            db[0] = 1f; // accumulates
            var scratch = new float[LogitsCrossEntropy.PartialsLength(rows, cols)];
            var d32 = (float[])zs.Clone(); var db32 = (float[])db.Clone();
            for (int r = 0; r < rows; r++)
                if (targets[r] == ignore) l.AsSpan(r * cols, cols).Fill(0x7fc0); // NaN: an ignored row must be cleared
            LogitsCrossEntropy.Backward<ushort>(l, lse, targets, ignore, rows, cols, scale, db, scratch);
            KT.Close(refD, KT.Widen(l), KT.Bf16Rtol, 1e-30, "d(logits)");
            KT.Close(refDb, db, 1e-5, 1e-5, "dbias");
            LogitsCrossEntropy.Backward(d32, lse, targets, ignore, rows, cols, scale, db32, scratch);
            Assert.Equal(KT.Bf16(d32), l);
            Assert.Equal(db32, db);
            return KT.Widen(l).Concat(db).Concat(loss).Concat(lse).ToArray();
        }, 1, 2, 3);
    }

    // The device picks the bf16 kernel from the logits' type; bias, losses and dbias stay Float32.
    [Fact]
    public void The_device_runs_bf16_logits_and_refuses_other_types()
    {
        const int rows = 5, cols = 70, ignore = -1;
        var d = Device.Cpu;
        var lh = KT.Bf16(KT.Random(rows * cols, 91, -4f, 4f)); var bias = KT.Random(cols, 92);
        int[] targets = [3, ignore, 69, 0, 12];
        using var logits = d.Allocate(DType.BFloat16, rows, cols); using var tb = d.Allocate(DType.Float32, cols);
        using var t = d.Allocate(DType.Int32, rows); using var losses = d.Allocate(DType.Float32, rows);
        using var lse = d.Allocate(DType.Float32, rows); using var arg = d.Allocate(DType.Int32, rows);
        using var db = d.Allocate(DType.Float32, cols); using var scratch = d.Allocate(DType.Float32, d.BiasCrossEntropyScratch(rows, cols));
        d.CopyToDevice<ushort>(lh, logits); d.CopyToDevice<float>(bias, tb); d.CopyToDevice<int>(targets, t);
        d.BiasCrossEntropyForward(logits, tb, rows, cols, t, ignore, losses, lse, arg);
        d.BiasCrossEntropyBackward(logits, lse, t, ignore, rows, cols, 0.5f, db, scratch);
        var l = (ushort[])lh.Clone(); var wl = new float[rows]; var wlse = new float[rows]; var wdb = new float[cols];
        LogitsCrossEntropy.Forward<ushort>(l, bias, rows, cols, targets, ignore, wl, wlse, new int[rows]);
        LogitsCrossEntropy.Backward<ushort>(l, wlse, targets, ignore, rows, cols, 0.5f, wdb, new float[LogitsCrossEntropy.PartialsLength(rows, cols)]);
        var got = new ushort[rows * cols];
        d.CopyToHost<ushort>(logits, got);
        Assert.Equal(l, got);
        Assert.Equal(wl, d.ToArray(losses));
        Assert.Equal(wdb, d.ToArray(db));
        using var li = d.Allocate(DType.Int32, rows, cols);
        Assert.Throws<ArgumentException>(() => d.BiasCrossEntropyForward(li, tb, rows, cols, t, ignore, losses, lse, arg));
        Assert.Throws<ArgumentException>(() => LogitsCrossEntropy.Forward<int>(new int[rows * cols], bias, rows, cols, targets, ignore, wl, wlse, new int[rows]));
    }

    [Fact]
    public void Out_of_range_target_and_short_buffers_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => LogitsCrossEntropy.Forward(new float[6], new float[3], 2, 3, [0, 3], -1, new float[2], new float[2], new int[2]));
        Assert.Contains("targets[1] = 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => LogitsCrossEntropy.Forward(new float[5], new float[3], 2, 3, [0, 1], -1, new float[2], new float[2], new int[2]));
        Assert.Contains("logits: need 6 floats", e.Message);
    }
}
