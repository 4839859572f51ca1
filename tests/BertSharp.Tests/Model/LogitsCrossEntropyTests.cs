using BertSharp.Model;
using BertSharp.Tensors;

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

    [Fact]
    public void Out_of_range_target_and_short_buffers_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => LogitsCrossEntropy.Forward(new float[6], new float[3], 2, 3, [0, 3], -1, new float[2], new float[2], new int[2]));
        Assert.Contains("targets[1] = 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => LogitsCrossEntropy.Forward(new float[5], new float[3], 2, 3, [0, 1], -1, new float[2], new float[2], new int[2]));
        Assert.Contains("logits: need 6 floats", e.Message);
    }
}
