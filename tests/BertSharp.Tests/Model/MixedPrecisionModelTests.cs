using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Tensors;
using BertSharp.Training;
using BertSharp.Tests.Training;

namespace BertSharp.Tests.Model;

/// <summary>The model in bf16: activations stored as BFloat16, float32 master weights whose bf16 copy the products read
/// is made once per update (not per use), and results that do not depend on the thread count.</summary>
[Collection("KernelThreads")]
public class MixedPrecisionModelTests
{
    private static (BertParameters P, BertForPreTraining Model, SyntheticPretrainingData Data) Tiny(Precision precision)
    {
        var p = new BertParameters(TrainerTests.TinyConfig(), device: Device.Cpu.WithPrecision(precision));
        p.Initialize(3);
        return (p, new BertForPreTraining(p), new SyntheticPretrainingData(64, 4, 16, 3, 5, batchesPerEpoch: 1000));
    }

    private static float[] Rounded(float[] v)
    {
        var r = (float[])v.Clone();
        BFloat16.Round(r);
        return r;
    }

    [Fact]
    public void Bf16_stores_activations_in_bf16_and_keeps_float32_master_weights_and_gradients()
    {
        var (p, model, data) = Tiny(Precision.Bf16);
        model.Forward(data.NextTrainingBatch(), DropoutContext.Off);
        Assert.Equal(DType.BFloat16, model.SequenceOutput.Type);
        Assert.Equal(DType.BFloat16, model.Bert.PooledOutput.Type);
        Assert.Equal(DType.Float32, model.Heads.MlmLogits.Type); // the loss reads float32 logits (the products' float32 sums)
        Assert.Equal(DType.Float32, p.Values.Type);
        Assert.Equal(DType.Float32, p.Gradients.Type);
        Assert.Equal(DType.BFloat16, p.ProductValues.Type);
        var (q, fp32, _) = Tiny(Precision.Fp32);
        fp32.Forward(new SyntheticPretrainingData(64, 4, 16, 3, 5, batchesPerEpoch: 1000).NextTrainingBatch(), DropoutContext.Off);
        Assert.Equal(DType.Float32, fp32.SequenceOutput.Type);
        Assert.Same(q.Values, q.ProductValues); // fp32: the products read the master weights themselves
    }

    [Fact]
    public void The_bf16_weight_copy_is_made_once_per_update_not_per_use()
    {
        var (p, model, data) = Tiny(Precision.Bf16);
        var batch = data.NextTrainingBatch();
        model.Forward(batch, DropoutContext.Off);
        var copy = p.Device.ToArray(p.ProductValues);
        Assert.Equal(Rounded(p.ToArray()), copy);

        // A write behind the parameters' back is not seen until it is announced: forwards reuse the copy.
        var host = CpuDevice.Floats(p.Values);
        var saved = host.ToArray();
        for (int i = 0; i < host.Length; i++) host[i] *= 0.5f;
        model.Forward(batch, DropoutContext.Off);
        Assert.Equal(copy, p.Device.ToArray(p.ProductValues));
        p.MarkChanged();
        model.Forward(batch, DropoutContext.Off);
        Assert.Equal(Rounded(p.ToArray()), p.Device.ToArray(p.ProductValues));
        Assert.NotEqual(copy, p.Device.ToArray(p.ProductValues));
        saved.CopyTo(host);
        p.MarkChanged();

        // An optimiser step announces its update: the next forward reads the new weights' bf16 copy.
        var opt = new AdamWOptimizer(p, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads);
        p.ZeroGradients();
        model.Forward(batch, DropoutContext.Off);
        model.Backward();
        opt.Step(1e-2);
        model.Forward(batch, DropoutContext.Off);
        Assert.Equal(Rounded(p.ToArray()), p.Device.ToArray(p.ProductValues));
    }

    [Fact]
    public void A_bf16_training_step_gives_the_same_bits_for_any_thread_count()
    {
        KT.SameBitsForThreadCounts(() =>
        {
            var (p, model, data) = Tiny(Precision.Bf16);
            var opt = new AdamWOptimizer(p, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads);
            for (int step = 0; step < 3; step++)
            {
                p.ZeroGradients();
                model.Forward(data.NextTrainingBatch(), new DropoutContext(true, 1, (ulong)step));
                model.Backward();
                opt.Step(1e-3);
            }
            return p.ToArray();
        });
    }
}
