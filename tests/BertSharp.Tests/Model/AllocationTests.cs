using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;
using Xunit.Abstractions;
using BertSharp.Tests.Training;

namespace BertSharp.Tests.Model;

[Collection("KernelThreads")]
public class AllocationTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(Precision.Fp32, false)]
    [InlineData(Precision.Bf16, false)]
    [InlineData(Precision.Fp32, true)]  // pretraining distillation: the teacher's forward, the soft-target and cosine terms
    [InlineData(Precision.Bf16, true)]
    public void A_training_step_allocates_nothing_in_steady_state(Precision precision, bool teacher)
    {
        var device = Device.Cpu.WithPrecision(precision);
        var p = new BertParameters(TrainerTests.TinyConfig(), device: device);
        p.Initialize(2);
        var model = teacher ? new BertForPreTraining(p, new BertForPreTraining(PretrainingDistillationTests.Parameters(TrainerTests.TinyConfig(), 3, device)))
            : new BertForPreTraining(p);
        var opt = new AdamWOptimizer(p, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads);
        var data = new SyntheticPretrainingData(64, 4, 16, 3, 5, batchesPerEpoch: 1000);
        long step = 0;
        void Step(long[] bytes)
        {
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            var batch = data.NextTrainingBatch();
            long a1 = GC.GetAllocatedBytesForCurrentThread();
            p.ZeroGradients();
            model.Forward(batch, new DropoutContext(true, 1, (ulong)step));
            long a2 = GC.GetAllocatedBytesForCurrentThread();
            model.Backward();
            long a3 = GC.GetAllocatedBytesForCurrentThread();
            opt.Step(1e-3);
            long a4 = GC.GetAllocatedBytesForCurrentThread();
            step++;
            bytes[0] += a1 - a0; bytes[1] += a2 - a1; bytes[2] += a3 - a2; bytes[3] += a4 - a3;
        }
        var warm = new long[4];
        for (int i = 0; i < 5; i++) Step(warm);
        var b = new long[4];
        long total0 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 20; i++) Step(b);
        long total = GC.GetTotalAllocatedBytes(precise: true) - total0;
        log.WriteLine($"this thread over 20 steps: data {b[0]} B, forward {b[1]} B, backward {b[2]} B, optimizer {b[3]} B; all threads {total} B");
        Assert.Equal(new long[4], b);
    }

    [Fact]
    public void Parameters_that_only_run_forward_hold_no_gradient_buffer()
    {
        // A loaded model used for inference, or a distillation teacher, needs its weights only: the weights-sized gradient
        // buffer is allocated by the first training use, once, and shared with the same buffers on another precision.
        var device = Device.Cpu.WithPrecision(Precision.Bf16);
        var teacherParams = PretrainingDistillationTests.Parameters(TrainerTests.TinyConfig(), 3, device);
        var p = new BertParameters(TrainerTests.TinyConfig(), device: device);
        p.Initialize(2);
        var model = new BertForPreTraining(p, new BertForPreTraining(teacherParams));
        var batch = new SyntheticPretrainingData(64, 4, 16, 3, 5, batchesPerEpoch: 10).NextTrainingBatch();
        model.Forward(batch, DropoutContext.Off);
        Assert.Null(p.AllocatedGradients);
        p.ZeroGradients();
        model.Forward(batch, new DropoutContext(true, 1, 0));
        model.Backward();
        var g = p.AllocatedGradients;
        Assert.NotNull(g);
        Assert.Equal(p.Layout.Length, g.Length);
        Assert.Same(g, p.Gradients);
        Assert.Same(g, p.To(Device.Cpu).Gradients);
        Assert.Null(teacherParams.AllocatedGradients);
    }
}
