using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class KernelAllocationTests
{
    [Fact]
    public void KernelsAllocateNothingInSteadyState()
    {
        int rows = 64, cols = 96, n = rows * cols;
        var x = KT.Random(n, 1); var y = new float[n]; var dy = KT.Random(n, 2); var dx = new float[n];
        var g = KT.Random(cols, 3); var b = KT.Random(cols, 4); var dg = new float[cols]; var db = new float[cols];
        var mean = new float[rows]; var rstd = new float[rows]; var mask = new float[2 * cols];
        var targets = Enumerable.Range(0, rows).Select(i => i % cols).ToArray();
        var losses = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
        var ids = Enumerable.Range(0, rows).Select(i => i % 7).ToArray(); var table = KT.Random(7 * cols, 5); var dtable = new float[7 * cols];
        var m = new float[n]; var v = new float[n];
        var weights = Enumerable.Range(0, rows).Select(i => i % 3 == 1 ? 0f : 1f).ToArray();
        double sink = 0;
        void All()
        {
            Bias.Add(y, rows, cols, b); Bias.Backward(dy, rows, cols, db);
            Activations.Gelu(x, y); Activations.GeluBackward(x, dy, dx);
            Activations.GeluTanh(x, y); Activations.GeluTanhBackward(x, dy, dx);
            Activations.Tanh(x, y); Activations.TanhBackward(y, dy, dx);
            LayerNorm.Forward(x, rows, cols, g, b, 1e-12f, y, mean, rstd);
            LayerNorm.Backward(dy, x, mean, rstd, g, rows, cols, dx, dg, db);
            Softmax.Forward(x, y, 2, rows / 2, cols, 0.5f, mask); Softmax.Backward(y, dy, dx, rows, cols, 0.5f);
            Dropout.Forward(x, y, 0.1f, 1, 2, 3); Dropout.Backward(dy, dx, 0.1f, 1, 2, 3);
            Embedding.Forward(ids, table, cols, y, true); Embedding.Backward(ids, dy, cols, dtable);
            CrossEntropy.Forward(x, rows, cols, targets, -100, losses, lse, arg);
            CrossEntropy.Backward(x, lse, targets, -100, rows, cols, 1f, dx);
            SoftTargetLoss.Forward(x, dy, weights, rows, cols, 2f, losses);
            SoftTargetLoss.Backward(x, dy, weights, rows, cols, 2f, 1f, dx, accumulate: true);
            CosineLoss.Forward(x, dy, weights, rows, cols, losses);
            CosineLoss.Backward(x, dy, weights, rows, cols, 1f, dx, accumulate: false);
            AdamW.Step(x, dy, m, v, new AdamWParams(1e-3f, 0.9f, 0.999f, 1e-6f, 0.01f, 1, 1f));
            sink += Reduce.L2Norm(dy);
        }
        AssertAllocatesNothing(All, windows: 5, callsPerWindow: 10);
        GC.KeepAlive(sink);
    }

    // The bf16 row kernels stage rows in per-thread buffers that are grown once and then reused.
    [Fact]
    public void Bf16RowKernelsAllocateNothingInSteadyState()
    {
        int rows = 32, cols = 96, n = rows * cols, wide = 2100; // wide: cross-entropy's blocks of 2048 and a tail
        var x = KT.Bf16(KT.Random(n, 1)); var y = new ushort[n]; var dy = KT.Bf16(KT.Random(n, 2)); var dx = new ushort[n];
        var g = KT.Random(cols, 3); var b = KT.Random(cols, 4); var dg = new float[cols]; var db = new float[cols];
        var mean = new float[rows]; var rstd = new float[rows]; var mask = new float[2 * cols];
        var logits = KT.Bf16(KT.Random(rows * wide, 5)); var dl = new ushort[rows * wide]; var wb = KT.Random(wide, 6); var dwb = new float[wide];
        var partials = new float[LogitsCrossEntropy.PartialsLength(rows, wide)];
        var targets = Enumerable.Range(0, rows).Select(i => i % cols).ToArray();
        var losses = new float[rows]; var lse = new float[rows]; var arg = new int[rows];
        var weights = Enumerable.Range(0, rows).Select(i => i % 3 == 1 ? 0f : 1f).ToArray();
        void All()
        {
            CosineLoss.Forward<ushort>(x, dy, weights, rows, cols, losses);
            CosineLoss.Backward<ushort>(x, dy, weights, rows, cols, 1f, dx, accumulate: true);
            LayerNorm.Forward<ushort>(x, rows, cols, g, b, 1e-12f, y, mean, rstd);
            LayerNorm.Backward<ushort>(dy, x, mean, rstd, g, rows, cols, dx, dg, db);
            Softmax.Forward<ushort>(x, y, 2, rows / 2, cols, 0.5f, mask); Softmax.Backward<ushort>(y, dy, dx, rows, cols, 0.5f);
            CrossEntropy.Forward<ushort>(logits, rows, wide, targets, -100, losses, lse, arg);
            CrossEntropy.Backward<ushort>(logits, lse, targets, -100, rows, wide, 1f, dl);
            dl.AsSpan().CopyTo(logits);
            LogitsCrossEntropy.Forward<ushort>(logits, wb, rows, wide, targets, -100, losses, lse, arg);
            LogitsCrossEntropy.Backward<ushort>(logits, lse, targets, -100, rows, wide, 1f, dwb, partials);
        }
        AssertAllocatesNothing(All, windows: 10, callsPerWindow: 2);
    }

    [Fact]
    public void Bf16ElementwiseKernelsAllocateNothingInSteadyState()
    {
        int rows = 64, cols = 97, n = rows * cols;
        var x = KT.Bf16(KT.Random(n, 1)); var y = new ushort[n]; var dy = KT.Bf16(KT.Random(n, 2));
        var b = KT.Random(cols, 4); var db = new float[cols];
        var ids = Enumerable.Range(0, rows).Select(i => i % 7).ToArray(); var table = KT.Random(7 * cols, 5); var dtable = new float[7 * cols];
        void All()
        {
            Bias.Add<ushort>(y, rows, cols, b); Bias.Backward<ushort>(dy, rows, cols, db);
            Dropout.Forward<ushort>(x, y, 0.1f, 1, 2, 3); Dropout.Backward<ushort>(dy, y, 0.1f, 1, 2, 3, offset: 3);
            Embedding.Forward<ushort>(ids, table, cols, y, true); Embedding.Forward<ushort>(ids, table, cols, y);
            Embedding.Backward<ushort>(ids, dy, cols, dtable);
            Elementwise.Add<ushort>(y, x);
        }
        AssertAllocatesNothing(All, windows: 5, callsPerWindow: 10);
    }

    // Runs all with 1 and 2 kernel threads: warm-up calls, then the process-wide allocation count (worker threads
    // included) over several windows; the least of them must be 0, so that an allocation by the test runner's own
    // threads cannot fail the test, while a kernel that allocates shows in every window.
    private static void AssertAllocatesNothing(Action all, int windows, int callsPerWindow)
    {
        int saved = KernelParallel.ThreadCount;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                KernelParallel.ThreadCount = threads;
                for (int i = 0; i < 3; i++) all();
                long least = long.MaxValue;
                for (int w = 0; w < windows; w++)
                {
                    long before = GC.GetTotalAllocatedBytes(precise: true);
                    for (int i = 0; i < callsPerWindow; i++) all();
                    least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
                }
                Assert.True(least == 0, $"threads {threads}: {least} B");
            }
        }
        finally { KernelParallel.ThreadCount = saved; }
    }
}
