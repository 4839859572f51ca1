using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

public class ProfiledTrainingTests
{
    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void A_profiled_training_run_is_bit_identical_to_an_unprofiled_one(string precision)
    {
        var device = Device.Cpu.WithPrecision(Precisions.Parse(precision)!.Value);
        var profiled = new ProfilingDevice(device);
        Trainer NewTrainer(Device d)
        {
            var p = new BertParameters(TrainerTests.TinyConfig(), device: d);
            p.Initialize(1);
            if (d is ProfilingDevice pd) pd.Profile.PartOf = ModelParts.Of(p);
            var options = new TrainerOptions
            {
                Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 2, 6), GradientAccumulationSteps = 2, Seed = 77,
            };
            return new Trainer(new BertForPreTraining(p), new SyntheticPretrainingData(64, 4, 16, 3, 9, batchesPerEpoch: 7), options);
        }
        var plain = NewTrainer(device);
        var measured = NewTrainer(profiled);
        Assert.IsType<ProfilingDevice>(measured.Model.Parameters.Device);
        for (int i = 0; i < 6; i++)
        {
            var a = plain.TrainStep();
            var b = measured.TrainStep();
            Assert.Equal(a.Loss, b.Loss);
            Assert.Equal(a.GradNorm, b.GradNorm);
        }
        Assert.Equal(plain.Model.Parameters.Values.ToArray(), measured.Model.Parameters.Values.ToArray());
        Assert.Equal(plain.Optimizer.ExpAvg.ToArray(), measured.Optimizer.ExpAvg.ToArray());
        Assert.Equal(plain.Optimizer.ExpAvgSq.ToArray(), measured.Optimizer.ExpAvgSq.ToArray());
        // And it did measure: every step's kernels, placed in the model's parts.
        Assert.Contains(profiled.Profile.Calls, c => c.Kernel == "AdamWStep");
        Assert.Contains(profiled.Profile.Calls, c => c.Part == ModelParts.SelfAttention);
    }
}
