using BertSharp.Cuda;
using BertSharp.Data;
using BertSharp.Tensors;
using BertSharp.Tests.Cuda;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Training;
using Xunit.Abstractions;

namespace BertSharp.Tests.Model;

/// <summary>
/// The model against PyTorch: tools/reference/bert_reference.py builds the same BERT (HF architecture and
/// names, Google's gathered MLM head, tied decoder), computes in float64 from float32 weights, and stores the
/// logits, losses, every gradient and the parameters after 3 clipped AdamW steps. Our float32 results must agree.
/// </summary>
public class GoldenTests(ITestOutputHelper log)
{
    private sealed class Golden : IDisposable
    {
        public readonly SafeTensorsReader R;
        public readonly JsonElement Meta;
        public readonly BertParameters P;
        public readonly int B, T, Pred;
        public readonly int[] InputIds, TokenTypes, Mask, Positions, Ids, Nsp;
        public readonly float[] Weights;

        public Golden(string stem = "bert_golden")
        {
            R = new SafeTensorsReader(ModelTestFiles.Fixture(stem + ".safetensors"));
            Meta = JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture(stem + ".json"))).RootElement;
            var config = BertConfig.FromJson(Meta.GetProperty("config").GetRawText(), stem + ".json");
            P = new BertParameters(config);
            foreach (var e in P.Layout.Entries) R.ReadF32("param/" + e.Name, P.Values.AsSpan(e.Offset, e.Length), e.Shape);
            B = Meta.GetProperty("batch_size").GetInt32();
            T = Meta.GetProperty("seq_length").GetInt32();
            Pred = Meta.GetProperty("max_predictions").GetInt32();
            InputIds = R.ReadInt32("input_ids");
            TokenTypes = R.ReadInt32("token_type_ids");
            Mask = R.ReadInt32("attention_mask");
            Positions = R.ReadInt32("masked_lm_positions");
            Ids = R.ReadInt32("masked_lm_ids");
            Weights = R.ReadF32("masked_lm_weights");
            Nsp = R.ReadInt32("next_sentence_labels");
        }

        public BertBatch Batch => BertBatch.Create(B, T, Pred, InputIds, TokenTypes, Mask, Positions, Ids, Weights, Nsp);
        public double Get(string name) => Meta.GetProperty(name).GetDouble();
        public void Dispose() => R.Dispose();
    }

    /// <summary>Largest |a − e| / max(|e|, floor·S) over the tensor, S = max(max|e|, absoluteScale). With the
    /// default floor 1 this is max|a − e| / max|e|: the error relative to the tensor's scale, which is what float32
    /// rounding is proportional to (entries near zero inherit the rounding of the large terms that cancelled).</summary>
    private static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double floor = 1, double absoluteScale = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = absoluteScale;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs((double)e));
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double denom = Math.Max(Math.Abs((double)expected[i]), floor * scale);
            if (denom == 0) { Assert.Equal(0f, actual[i]); continue; }
            worst = Math.Max(worst, Math.Abs(actual[i] - (double)expected[i]) / denom);
        }
        return worst;
    }

    [Fact]
    public void Forward_backward_and_three_adamw_steps_match_pytorch() => ForwardBackwardAndThreeSteps(Device.Cpu);

    /// <summary>The same on the CUDA device in float32 (cuBLAS GEMMs and our CUDA kernels): on a GPU where there is one,
    /// else on the CUDA emulator (tools/cuda-emu).</summary>
    [GpuFact]
    public void Forward_backward_and_three_adamw_steps_match_pytorch_on_cuda()
    {
        if (EmulatedGpu.RanInChild(this, log)) return;
        using var gpu = CudaDevice.Open(0);
        log.WriteLine(gpu.Info.ToString());
        ForwardBackwardAndThreeSteps(gpu);
    }

    private void ForwardBackwardAndThreeSteps(Device device)
    {
        using var g = new Golden();
        var p = device == Device.Cpu ? g.P : g.P.To(device);
        float[] Host(TensorView v) => device.ToArray(v);
        var model = new BertForPreTraining(p);
        var o = model.Forward(g.Batch, DropoutContext.Off);

        double embErr = RelativeError(Host(model.Bert.Embeddings.Output), g.R.ReadF32("embedding_output"));
        double seqErr = RelativeError(Host(model.SequenceOutput), g.R.ReadF32("sequence_output"));
        log.WriteLine($"embedding output rel err {embErr:E2}, sequence output {seqErr:E2}");
        Assert.True(embErr <= 1e-5, $"embedding output relative error {embErr:E2}");
        Assert.True(seqErr <= 1e-5, $"sequence output relative error {seqErr:E2}");
        double mlmErr = RelativeError(Host(model.Heads.MlmLogits), g.R.ReadF32("mlm_logits"));
        double nspErr = RelativeError(Host(model.Heads.NspLogits), g.R.ReadF32("nsp_logits"));
        log.WriteLine($"logits rel err: mlm {mlmErr:E2} nsp {nspErr:E2}; loss {o.Loss} vs {g.Get("total_loss")}");
        Assert.True(mlmErr <= 1e-5, $"MLM logits relative error {mlmErr:E2}");
        Assert.True(nspErr <= 1e-5, $"NSP logits relative error {nspErr:E2}");
        Assert.True(Math.Abs(o.MlmLoss - g.Get("mlm_loss")) <= 1e-5 * g.Get("mlm_loss"), $"MLM loss {o.MlmLoss} vs {g.Get("mlm_loss")}");
        Assert.True(Math.Abs(o.NspLoss - g.Get("nsp_loss")) <= 1e-5 * g.Get("nsp_loss"), $"NSP loss {o.NspLoss} vs {g.Get("nsp_loss")}");
        Assert.True(Math.Abs(o.Loss - g.Get("total_loss")) <= 1e-5 * g.Get("total_loss"));

        p.ZeroGradients();
        model.Backward();
        double worstGrad = 0;
        var gradients = Host(p.Gradients);
        foreach (var e in p.Layout.Entries)
        {
            // The key bias's gradient is zero in exact arithmetic (softmax ignores a per-row constant): judge
            // tensors whose gradients are all tiny against an absolute scale of 1e-3.
            double err = RelativeError(gradients.AsSpan(e.Offset, e.Length), g.R.ReadF32("grad/" + e.Name), absoluteScale: 1e-3);
            worstGrad = Math.Max(worstGrad, err);
            Assert.True(err <= 1e-4, $"gradient of {e.Name}: relative error {err:E2}");
        }
        log.WriteLine($"worst gradient rel err {worstGrad:E2}");

        // Three clipped AdamW steps on the same batch with the warm-up schedule.
        var opt = g.Meta.GetProperty("optimizer");
        var schedule = new LearningRateSchedule(ScheduleKind.Linear, opt.GetProperty("learning_rate").GetDouble(),
            opt.GetProperty("warmup_steps").GetInt32(), opt.GetProperty("total_steps").GetInt32());
        var adam = new AdamWOptimizer(p, ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads)
        {
            Beta1 = (float)opt.GetProperty("beta1").GetDouble(), Beta2 = (float)opt.GetProperty("beta2").GetDouble(),
            Epsilon = (float)opt.GetProperty("epsilon").GetDouble(), WeightDecay = (float)opt.GetProperty("weight_decay").GetDouble(),
            MaxGradNorm = opt.GetProperty("max_grad_norm").GetDouble(),
        };
        var norms = g.Meta.GetProperty("grad_norms_per_step").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var losses = g.Meta.GetProperty("losses_per_step").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (int t = 1; t <= opt.GetProperty("steps").GetInt32(); t++)
        {
            if (t > 1)
            {
                p.ZeroGradients();
                var ot = model.Forward(g.Batch, DropoutContext.Off);
                Assert.True(Math.Abs(ot.Loss - losses[t - 1]) <= 1e-5 * losses[t - 1], $"loss at step {t}: {ot.Loss} vs {losses[t - 1]}");
                model.Backward();
            }
            double norm = adam.Step(schedule.At(t));
            Assert.True(Math.Abs(norm - norms[t - 1]) <= 1e-5 * norms[t - 1], $"grad norm at step {t}: {norm} vs {norms[t - 1]}");
        }
        double worstParam = 0;
        var values = Host(p.Values);
        foreach (var e in p.Layout.Entries)
        {
            double err = RelativeError(values.AsSpan(e.Offset, e.Length), g.R.ReadF32("step3/" + e.Name));
            worstParam = Math.Max(worstParam, err);
            Assert.True(err <= 1e-5, $"{e.Name} after 3 steps: relative error {err:E2}");
        }
        log.WriteLine($"worst parameter rel err after 3 steps {worstParam:E2}");
        if (!ReferenceEquals(p, g.P)) p.Dispose();
    }

    /// <summary>The shapes of real training (sequence 128 with a padded row, head size 64, 20 masked positions
    /// per row; `bert_reference.py --large`), where the kernels take their blocked and vectorised paths that the
    /// small fixture's 16 × 8 attention never reaches.</summary>
    [Fact]
    public void Training_shapes_match_pytorch() => TrainingShapes(Device.Cpu);

    /// <summary>The same on the CUDA device in float32 (a GPU, else the CUDA emulator).</summary>
    [GpuFact]
    public void Training_shapes_match_pytorch_on_cuda()
    {
        if (EmulatedGpu.RanInChild(this, log)) return;
        using var gpu = CudaDevice.Open(0);
        TrainingShapes(gpu);
    }

    private void TrainingShapes(Device device)
    {
        using var g = new Golden("bert_golden_large");
        var p = device == Device.Cpu ? g.P : g.P.To(device);
        float[] Host(TensorView v) => device.ToArray(v);
        var model = new BertForPreTraining(p);
        var o = model.Forward(g.Batch, DropoutContext.Off);
        double seqErr = RelativeError(Host(model.SequenceOutput), g.R.ReadF32("sequence_output"));
        double mlmErr = RelativeError(Host(model.Heads.MlmLogits), g.R.ReadF32("mlm_logits"));
        double nspErr = RelativeError(Host(model.Heads.NspLogits), g.R.ReadF32("nsp_logits"));
        log.WriteLine($"sequence output {seqErr:E2}, mlm logits {mlmErr:E2}, nsp logits {nspErr:E2}; loss {o.Loss} vs {g.Get("total_loss")}");
        Assert.True(seqErr <= 1e-5, $"sequence output relative error {seqErr:E2}");
        Assert.True(mlmErr <= 1e-5, $"MLM logits relative error {mlmErr:E2}");
        Assert.True(nspErr <= 1e-5, $"NSP logits relative error {nspErr:E2}");
        Assert.True(Math.Abs(o.Loss - g.Get("total_loss")) <= 1e-5 * g.Get("total_loss"), $"loss {o.Loss} vs {g.Get("total_loss")}");
        p.ZeroGradients();
        model.Backward();
        double worst = 0;
        var gradients = Host(p.Gradients);
        foreach (var e in p.Layout.Entries)
        {
            double err = RelativeError(gradients.AsSpan(e.Offset, e.Length), g.R.ReadF32("grad/" + e.Name), absoluteScale: 1e-3);
            log.WriteLine($"{e.Name}: {err:E2}");
            worst = Math.Max(worst, err);
            Assert.True(err <= 1e-4, $"gradient of {e.Name}: relative error {err:E2}");
        }
        log.WriteLine($"worst gradient rel err {worst:E2}");
        if (!ReferenceEquals(p, g.P)) p.Dispose();
    }
}

/// <summary>The whole model in bf16 (products on bfloat16 inputs, float32 sums and master weights) against the same
/// PyTorch float64 fixtures: bf16 rounds every product input to 8 significant bits, so the tolerance is bf16's
/// (about 2⁻⁸ per rounding, a few percent after a dozen layers of products), not float32's.</summary>
public class GoldenBf16Tests(ITestOutputHelper log)
{
    [Fact]
    public void Forward_and_backward_in_bf16_stay_within_bf16_tolerance_of_pytorch()
    {
        using var r = new SafeTensorsReader(ModelTestFiles.Fixture("bert_golden_large.safetensors"));
        var meta = JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture("bert_golden_large.json"))).RootElement;
        var config = BertConfig.FromJson(meta.GetProperty("config").GetRawText(), "bert_golden_large.json");
        var fp32 = new BertParameters(config);
        foreach (var e in fp32.Layout.Entries) r.ReadF32("param/" + e.Name, fp32.Values.AsSpan(e.Offset, e.Length), e.Shape);
        var p = fp32.To(Device.Cpu.WithPrecision(Precision.Bf16));
        Assert.Same(fp32.Values, p.Values); // the same memory, another precision
        Assert.Equal(Precision.Bf16, p.Device.Precision);
        int b = meta.GetProperty("batch_size").GetInt32(), t = meta.GetProperty("seq_length").GetInt32(), pred = meta.GetProperty("max_predictions").GetInt32();
        var batch = BertBatch.Create(b, t, pred, r.ReadInt32("input_ids"), r.ReadInt32("token_type_ids"), r.ReadInt32("attention_mask"),
            r.ReadInt32("masked_lm_positions"), r.ReadInt32("masked_lm_ids"), r.ReadF32("masked_lm_weights"), r.ReadInt32("next_sentence_labels"));
        var model = new BertForPreTraining(p);
        var o = model.Forward(batch, DropoutContext.Off);
        double loss = meta.GetProperty("total_loss").GetDouble();
        Assert.Equal(DType.BFloat16, model.SequenceOutput.Type); // activations stored in bf16
        double seqErr = ScaledError(model.SequenceOutput.ToArray(), r.ReadF32("sequence_output"));
        log.WriteLine($"bf16: loss {o.Loss} vs {loss}, sequence output error {seqErr:E2} of its scale");
        Assert.True(Math.Abs(o.Loss - loss) <= 1e-2 * loss, $"loss {o.Loss} vs {loss}");
        Assert.True(seqErr <= 5e-2, $"sequence output error {seqErr:E2}");
        Assert.True(seqErr >= 1e-5, "bf16 agreed with float64 like float32 does: are the products really rounded to bf16?");
        p.ZeroGradients();
        model.Backward();
        foreach (var e in p.Layout.Entries)
        {
            var expected = r.ReadF32("grad/" + e.Name);
            if (expected.Max(Math.Abs) < 1e-3) continue; // zero in exact arithmetic (the key bias): rounding only
            double err = ScaledError(p.Gradients.AsSpan(e.Offset, e.Length), expected);
            Assert.True(err <= 0.1, $"gradient of {e.Name}: error {err:E2} of its scale");
        }
    }

    // max |a − e| / max |e|.
    private static double ScaledError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double scale = 0, worst = 0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs((double)e));
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - (double)expected[i]));
        return worst / scale;
    }
}
