using BertSharp.Cuda;
using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Model;
using BertSharp.Training;
using Xunit.Abstractions;

namespace BertSharp.Tests.Cuda;

/// <summary>
/// The distillation losses on the CUDA device beyond the agreement with the CPU that <see cref="DeviceComparison"/>
/// checks: the exact zeros (a teacher equal to the student, left-out rows, accumulation leaving them alone) and the
/// CPU's refusals (temperature, overlapping gradient, mixed activation types, short views).
/// </summary>
public class CudaDistillationTests(ITestOutputHelper log)
{
    /// <summary>Pretraining distillation on the CUDA device follows the CPU: a student taught by a teacher of its width
    /// (soft-target and cosine terms both on), dropout on, 4 updates of 2 micro-batches, in fp32 and in bf16 — objective,
    /// soft-target and cosine losses and gradient norms within float32 (bf16) rounding of the CPU's, the same final weights
    /// within the same tolerance; the teacher's weights unchanged on the device.</summary>
    [GpuFact]
    public void Pretraining_distillation_on_cuda_follows_the_cpu()
    {
        if (EmulatedGpu.RanInChild(this, log)) return;
        foreach (var (precision, tolerance) in new[] { (Precision.Fp32, 1e-4), (Precision.Bf16, 2e-2) })
        {
            (List<StepReport> Steps, float[] Weights, float[] Teacher) Train(Device device)
            {
                var teacher = PretrainingDistillationTests.Parameters(PretrainingDistillationTests.Config(init: 0.1f), 31).To(device);
                var student = PretrainingDistillationTests.Parameters(PretrainingDistillationTests.Config(dropout: 0.1f), 32).To(device);
                var trainer = new Trainer(new BertForPreTraining(student, new BertForPreTraining(teacher)),
                    new SyntheticPretrainingData(64, 4, 16, 3, 9, batchesPerEpoch: 50),
                    new TrainerOptions { Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 2, 20), GradientAccumulationSteps = 2, Seed = 4 });
                var steps = Enumerable.Range(0, 4).Select(_ => trainer.TrainStep()).ToList();
                return (steps, student.ToArray(), teacher.ToArray());
            }
            var cpu = Train(Device.Cpu.WithPrecision(precision));
            using var gpu = Devices.Open("cuda", precision, out _);
            var cuda = Train(gpu);
            for (int i = 0; i < cpu.Steps.Count; i++)
            {
                var (a, b) = (cpu.Steps[i], cuda.Steps[i]);
                log.WriteLine($"{precision} step {i + 1}: objective {a.Loss:F5} / {b.Loss:F5}, soft {a.Metrics.SoftMlmLoss:F5} / {b.Metrics.SoftMlmLoss:F5}, "
                    + $"cosine {a.Metrics.CosineLoss:F5} / {b.Metrics.CosineLoss:F5}, |g| {a.GradNorm:F4} / {b.GradNorm:F4}");
                Assert.True(Math.Abs(a.Loss - b.Loss) <= tolerance * a.Loss, $"{precision} step {i + 1}: objective {b.Loss} vs {a.Loss}");
                Assert.True(Math.Abs(a.Metrics.SoftMlmLoss - b.Metrics.SoftMlmLoss) <= tolerance * a.Metrics.SoftMlmLoss + 1e-6, $"{precision} step {i + 1}: soft-target loss");
                Assert.True(Math.Abs(a.Metrics.CosineLoss - b.Metrics.CosineLoss) <= tolerance * a.Metrics.CosineLoss + 1e-6, $"{precision} step {i + 1}: cosine loss");
                Assert.True(Math.Abs(a.GradNorm - b.GradNorm) <= 10 * tolerance * a.GradNorm, $"{precision} step {i + 1}: gradient norm {b.GradNorm} vs {a.GradNorm}");
                Assert.Equal(a.Metrics.CosineCount, b.Metrics.CosineCount);
            }
            double scale = cpu.Weights.Max(Math.Abs), apart = cpu.Weights.Zip(cuda.Weights, (x, y) => Math.Abs(x - y)).Max() / scale;
            log.WriteLine($"{precision}: final weights apart by {apart:E2} (relative to the largest)");
            Assert.True(apart <= tolerance, $"{precision}: final weights apart by {apart:E2}");
            Assert.Equal(cpu.Teacher, cuda.Teacher);
        }
    }

    [GpuFact]
    public void Soft_target_and_cosine_losses_keep_the_cpus_zeros_and_refusals()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        const int rows = 5, cols = 1031, n = rows * cols;
        var rng = new Random(3);
        var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 60 - 30)).ToArray();
        var w = new[] { 1f, 0f, 2.5f, 0.5f, 0f };
        DeviceTensor F(float[] data) { var t = gpu.Allocate(DType.Float32, data.Length); gpu.CopyToDevice<float>(data, t); return t; }
        using var s = F(x); using var t = F(x); using var tw = F(w); using var loss = F([9, 9, 9, 9, 9]);
        using var d = F(Enumerable.Repeat(7f, n).ToArray());
        foreach (float temperature in new[] { 0.5f, 1f, 2f, 4f })
        {
            // The same logits: both distributions come from the same code on the same values, so exactly 0.
            gpu.SoftTargetForward(s, t, tw, rows, cols, temperature, loss);
            Assert.Equal(new float[rows], gpu.ToArray(loss));
            gpu.SoftTargetBackward(s, t, tw, rows, cols, temperature, 3f, d, accumulate: false);
            Assert.All(gpu.ToArray(d), v => Assert.Equal(0f, v));
        }
        // Accumulating: rows with weight 0 are left as they are, the others get += (0 here).
        using var acc = F(Enumerable.Range(0, n).Select(i => (float)i).ToArray());
        gpu.SoftTargetBackward(s, t, tw, rows, cols, 2f, 1f, acc, accumulate: true);
        Assert.Equal(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), gpu.ToArray(acc));
        gpu.CosineBackward(s, t, tw, rows, cols, 1f, acc, accumulate: true);
        var after = gpu.ToArray(acc);
        for (int i = 0; i < n; i++)
            if (w[i / cols] == 0) Assert.Equal((float)i, after[i]);

        foreach (float bad in new[] { 0f, -1f, float.NaN, float.PositiveInfinity })
        {
            Assert.Equal("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => gpu.SoftTargetForward(s, t, tw, rows, cols, bad, loss)).ParamName);
            Assert.Equal("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => gpu.SoftTargetBackward(s, t, tw, rows, cols, bad, 1f, d, false)).ParamName);
        }
        Assert.Contains("overlap", Assert.Throws<ArgumentException>(() => gpu.SoftTargetBackward(s, t, tw, rows, cols, 1f, 1f, s, false)).Message);
        using var big = F(new float[2 * n]);
        Assert.Contains("overlap", Assert.Throws<ArgumentException>(() => gpu.SoftTargetBackward(big.View(0, n), t, tw, rows, cols, 1f, 1f, big.View(cols, n), false)).Message);
        gpu.SoftTargetBackward(big.View(0, n), t, tw, rows, cols, 1f, 1f, big.View(n, n), false); // adjacent, not overlapping
        Assert.Contains("student", Assert.Throws<ArgumentException>(() => gpu.SoftTargetForward(s.View(0, n - 1), t, tw, rows, cols, 1f, loss)).Message);
        Assert.Contains("weights", Assert.Throws<ArgumentException>(() => gpu.CosineForward(s, t, tw.View(0, rows - 1), rows, cols, loss)).Message);
        Assert.Equal("cols", Assert.Throws<ArgumentOutOfRangeException>(() => gpu.CosineForward(s, t, tw, rows, 0, loss)).ParamName);
        using var h = gpu.Allocate(DType.BFloat16, n);
        Assert.Equal("cosine loss: activations must all be Float32 or all BFloat16, got Float32, BFloat16",
            Assert.Throws<ArgumentException>(() => gpu.CosineForward(s, h, tw, rows, cols, loss)).Message);
        Assert.Contains("student", Assert.Throws<ArgumentException>(() => gpu.SoftTargetForward(h, t, tw, rows, cols, 1f, loss)).Message);
    }
}
