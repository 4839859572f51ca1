using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Tensors;
using BertSharp.Training;
using Xunit.Abstractions;

namespace BertSharp.Tests.Model;

/// <summary>
/// Pretraining distillation at the model level: the weighted objective (soft-target MLM, true MLM and NSP, cosine between
/// the last hidden states) against finite differences, plain pretraining recovered bit for bit when the teacher's terms
/// weigh 0, a teacher identical to the student contributing nothing, a teacher that never trains, and bf16 against fp32.
/// </summary>
[Collection("KernelThreads")]
public class PretrainingDistillationTests(ITestOutputHelper log)
{
    private const int Vocab = 64;

    internal static BertConfig Config(int hidden = 32, int layers = 2, float dropout = 0f, float init = 0.02f) => new()
    {
        VocabSize = Vocab, HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = 2, IntermediateSize = hidden + 16,
        MaxPositionEmbeddings = 32, HiddenDropoutProb = dropout, AttentionProbsDropoutProb = dropout, InitializerRange = init,
    };

    internal static BertParameters Parameters(BertConfig c, ulong seed, Device? device = null)
    {
        var p = new BertParameters(c, device: device);
        p.Initialize(seed);
        return p;
    }

    private static SyntheticPretrainingData Data(ulong seed = 9) => new(Vocab, 4, 16, 3, seed, batchesPerEpoch: 50);

    /// <summary>A synthetic batch whose rows end in padding (the last <paramref name="pad"/>·(row+1) tokens), with the
    /// masked positions that fall there turned into padding entries (weight 0), and one more padding entry per row.</summary>
    private static BertBatch PaddedBatch(int pad = 2)
    {
        var b = Data(3).NextTrainingBatch();
        int n = b.BatchSize, t = b.SeqLength, p = b.MaxPredictions;
        var ids = b.InputIds.AsSpan(0, n * t).ToArray();
        var mask = b.AttentionMask.AsSpan(0, n * t).ToArray();
        var positions = b.MaskedLmPositions.AsSpan(0, n * p).ToArray();
        var weights = b.MaskedLmWeights.AsSpan(0, n * p).ToArray();
        for (int r = 0; r < n; r++)
        {
            int real = t - pad * (r + 1);
            for (int i = real; i < t; i++) (ids[r * t + i], mask[r * t + i]) = (0, 0);
            for (int k = 0; k < p; k++)
                if (positions[r * p + k] >= real) (positions[r * p + k], weights[r * p + k]) = (0, 0f);
            weights[r * p + p - 1] = 0f;
        }
        return BertBatch.Create(n, t, p, ids, b.TokenTypeIds.AsSpan(0, n * t), mask, positions, b.MaskedLmIds.AsSpan(0, n * p), weights,
            b.NextSentenceLabels.AsSpan(0, n));
    }

    public static TheoryData<string, int, int> Terms => new()
    {
        { "all", 32, 2 },     // DistilBERT's weights, cosine on (equal widths)
        { "soft", 32, 2 },    // the soft-target term alone
        { "cosine", 32, 2 },  // the cosine term alone
        { "all", 48, 3 },     // a wider, deeper teacher: no cosine term
    };

    private static PretrainingDistillation Weights(string terms) => terms switch
    {
        "soft" => new PretrainingDistillation(AlphaSoft: 5, AlphaMlm: 0, AlphaNsp: 0, AlphaCos: 0),
        "cosine" => new PretrainingDistillation(AlphaSoft: 0, AlphaMlm: 0, AlphaNsp: 0, AlphaCos: 3),
        _ => new PretrainingDistillation(),
    };

    [Theory]
    [MemberData(nameof(Terms))]
    public void The_objective_s_gradient_matches_finite_differences(string terms, int teacherHidden, int teacherLayers)
    {
        // Larger initial weights than BERT's 0.02, so the teacher's MLM distribution is far from uniform and from the
        // student's: every term then has a gradient of its own to get wrong.
        var p = Parameters(Config(init: 0.1f), 1);
        var teacher = new BertForPreTraining(Parameters(Config(teacherHidden, teacherLayers, init: 0.3f), 2));
        var model = new BertForPreTraining(p, teacher, Weights(terms));
        Assert.Equal(teacherHidden == 32, model.HasCosineTerm);
        var batch = PaddedBatch();
        var o = model.Forward(batch, DropoutContext.Off);
        log.WriteLine($"{terms}: objective {o.Loss:F5}: MLM {o.MlmLoss:F4}, NSP {o.NspLoss:F4}, soft {o.SoftMlmLoss:F4}, cosine {o.CosineLoss:F4} "
            + $"over {o.MlmCount} predictions and {o.CosineCount} tokens");
        Assert.Equal(model.HasCosineTerm ? batch.AttentionMask.AsSpan(0, 4 * 16).ToArray().Sum() : 0L, o.CosineCount);
        Assert.Equal(batch.MaskedLmWeights.AsSpan(0, 4 * 3).ToArray().Count(w => w > 0), (int)o.MlmCount);
        if (terms != "cosine") Assert.True(o.SoftMlmLoss > 0.05, $"soft-target loss {o.SoftMlmLoss}: too small to test");
        if (model.HasCosineTerm) Assert.True(o.CosineLoss > 0.05, $"cosine loss {o.CosineLoss}: too small to test");
        p.ZeroGradients();
        model.Backward();
        var analytic = p.Gradients.ToArray();
        Assert.All(teacher.Parameters.Gradients.ToArray(), g => Assert.Equal(0f, g));

        double Objective() => model.Forward(batch, DropoutContext.Off).Loss;
        double worst = 0;
        foreach (var name in new[] { "cls.predictions.bias", "bert.encoder.layer.1.attention.output.dense.weight",
                     "bert.encoder.layer.1.output.LayerNorm.weight", "cls.predictions.transform.dense.weight" })
        {
            var e = p.Layout[name];
            for (int j = 0; j < 6; j++)
            {
                int at = e.Offset + (int)((long)e.Length * j / 6 + j) % e.Length;
                var values = p.Values.AsSpan();
                float keep = values[at], h = 1e-2f;
                values[at] = keep + h; double up = Objective();
                values[at] = keep - h; double down = Objective();
                values[at] = keep;
                double numeric = (up - down) / (2 * (double)h);
                worst = Math.Max(worst, Math.Abs(numeric - analytic[at]) / (1e-3 + Math.Abs(numeric)));
                Assert.True(Math.Abs(numeric - analytic[at]) <= 1e-3 + 0.02 * Math.Abs(numeric),
                    $"{terms}: {name}[{at - e.Offset}]: analytic {analytic[at]:G6}, numeric {numeric:G6}");
            }
        }
        log.WriteLine($"worst relative difference {worst:E2}");
        // The decoder bias reads only the MLM logits: under the cosine term alone its gradient is exactly 0, else it is not.
        var biasGrad = analytic.AsSpan(p.Layout["cls.predictions.bias"].Offset, Vocab).ToArray();
        if (terms == "cosine") Assert.All(biasGrad, g => Assert.Equal(0f, g));
        else Assert.Contains(biasGrad, g => Math.Abs(g) > 1e-4);
    }

    [Fact]
    public void Both_terms_match_a_float64_reference_on_each_model_s_own_outputs_decoder_bias_included()
    {
        // Decoder biases of their own (BERT starts them at 0): a term that read logits without the bias (the heads add it in
        // place) would differ from the reference, which takes each model's logits from a forward of its own.
        var sp = Parameters(Config(init: 0.1f), 41);
        var tp = Parameters(Config(init: 0.3f), 42);
        var rng = new Random(5);
        sp.Write("cls.predictions.bias", Enumerable.Range(0, Vocab).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray());
        tp.Write("cls.predictions.bias", Enumerable.Range(0, Vocab).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray());
        var batch = PaddedBatch();
        var k = new PretrainingDistillation(Temperature: 3);
        var o = new BertForPreTraining(sp, new BertForPreTraining(tp), k).Forward(batch, DropoutContext.Off);

        (float[] Logits, float[] Hidden) Alone(BertParameters p)
        {
            var m = new BertForPreTraining(p);
            m.Forward(batch, DropoutContext.Off);
            return (m.Heads.MlmLogits.ToArray(), m.SequenceOutput.ToArray());
        }
        var (s, sh) = Alone(sp);
        var (t, th) = Alone(tp);
        double T = k.Temperature, soft = 0, cos = 0;
        int slots = batch.BatchSize * batch.MaxPredictions, real = 0, tokens = 0;
        for (int r = 0; r < slots; r++)
        {
            if (batch.MaskedLmWeights[r] == 0) continue;
            real++;
            double[] LogSoftmax(float[] x) { var z = x.Skip(r * Vocab).Take(Vocab).Select(v => v / T).ToArray(); double mx = z.Max(), lse = mx + Math.Log(z.Sum(v => Math.Exp(v - mx))); return z.Select(v => v - lse).ToArray(); }
            var (lp, lq) = (LogSoftmax(t), LogSoftmax(s));
            soft += T * T * lp.Select((v, c) => Math.Exp(v) * (v - lq[c])).Sum();
        }
        for (int i = 0; i < batch.BatchSize * batch.SeqLength; i++)
        {
            if (batch.AttentionMask[i] == 0) continue;
            tokens++;
            double ab = 0, aa = 0, bb = 0;
            for (int c = 0; c < 32; c++) { double x = sh[i * 32 + c], y = th[i * 32 + c]; ab += x * y; aa += x * x; bb += y * y; }
            cos += 1 - ab / Math.Max(Math.Sqrt(aa * bb), 1e-8);
        }
        log.WriteLine($"soft {o.SoftMlmLoss:F6} (reference {soft / real:F6}), cosine {o.CosineLoss:F6} (reference {cos / tokens:F6})");
        Assert.Equal(real, (int)o.MlmCount);
        Assert.Equal(tokens, (int)o.CosineCount);
        Assert.True(Math.Abs(o.SoftMlmLoss - soft / real) <= 1e-5 * (soft / real), $"soft-target loss {o.SoftMlmLoss} vs {soft / real}");
        Assert.True(Math.Abs(o.CosineLoss - cos / tokens) <= 1e-5 * (cos / tokens), $"cosine loss {o.CosineLoss} vs {cos / tokens}");
        Assert.Equal(k.AlphaSoft * o.SoftMlmLoss + k.AlphaMlm * o.MlmLoss + k.AlphaNsp * o.NspLoss + k.AlphaCos * o.CosineLoss, o.Loss, 12);
    }

    private static Trainer NewTrainer(BertForPreTraining model, ulong dataSeed = 9, int accumulation = 2) =>
        new(model, Data(dataSeed), new TrainerOptions
        {
            Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 2, 20), GradientAccumulationSteps = accumulation, Seed = 4,
        });

    [Fact]
    public void With_the_teacher_s_terms_at_weight_0_a_step_is_plain_pretraining_bit_for_bit()
    {
        var config = Config(dropout: 0.1f);
        var plain = NewTrainer(new BertForPreTraining(Parameters(config, 5)));
        var teacher = new BertForPreTraining(Parameters(Config(init: 0.3f), 6));
        var distilled = NewTrainer(new BertForPreTraining(Parameters(config, 5), teacher,
            new PretrainingDistillation(AlphaSoft: 0, AlphaMlm: 1, AlphaNsp: 1, AlphaCos: 0)));
        for (int step = 0; step < 4; step++)
        {
            var a = plain.TrainStep();
            var b = distilled.TrainStep();
            Assert.Equal(a.Loss, b.Loss);
            Assert.Equal(a.GradNorm, b.GradNorm);
            Assert.True(b.Metrics.SoftMlmLoss > 0 && b.Metrics.CosineLoss > 0, "the teacher ran and its terms were measured");
        }
        Assert.Equal(plain.Model.Parameters.ToArray(), distilled.Model.Parameters.ToArray());
    }

    [Fact]
    public void A_teacher_identical_to_the_student_adds_nothing_at_step_0()
    {
        var config = Config(dropout: 0.1f, init: 0.1f);
        var p = Parameters(config, 7);
        var copy = new BertParameters(config);
        copy.CopyFrom(p.ToArray());
        var model = new BertForPreTraining(p, new BertForPreTraining(copy));
        var batch = Data().NextTrainingBatch();
        var o = model.Forward(batch, DropoutContext.Off);
        log.WriteLine($"soft {o.SoftMlmLoss:E2}, cosine {o.CosineLoss:E2}, MLM {o.MlmLoss:F4}");
        Assert.True(o.SoftMlmLoss <= 1e-6, $"soft-target loss {o.SoftMlmLoss}");
        Assert.True(o.CosineLoss <= 1e-6, $"cosine loss {o.CosineLoss}");
        Assert.True(o.MlmCount > 0);
        Assert.Equal(batch.AttentionMask.AsSpan(0, 4 * 16).ToArray().Sum(), (int)o.CosineCount);
        Assert.Equal(2 * o.MlmLoss + o.NspLoss, o.Loss, 5);
        // With dropout on, the student no longer sees what the teacher sees: both terms become positive.
        var d = model.Forward(Data().NextTrainingBatch(), new DropoutContext(true, 1, 0));
        Assert.True(d.SoftMlmLoss > 1e-4 && d.CosineLoss > 1e-4, $"with dropout: soft {d.SoftMlmLoss}, cosine {d.CosineLoss}");
    }

    [Fact]
    public void The_teacher_never_trains()
    {
        var teacherParameters = Parameters(Config(48, 3, dropout: 0.1f), 8);
        var before = teacherParameters.ToArray();
        var trainer = NewTrainer(new BertForPreTraining(Parameters(Config(dropout: 0.1f), 9), new BertForPreTraining(teacherParameters)));
        var start = trainer.Model.Parameters.ToArray();
        for (int i = 0; i < 4; i++) trainer.TrainStep();
        trainer.Evaluate();
        Assert.Equal(before, teacherParameters.ToArray());
        Assert.All(teacherParameters.Gradients.ToArray(), g => Assert.Equal(0f, g));
        Assert.NotEqual(start, trainer.Model.Parameters.ToArray());
        Assert.Equal(trainer.Model.Parameters.Layout.Length, trainer.Optimizer.ExpAvg.Length);
    }

    [Fact]
    public void A_teacher_that_does_not_fit_is_refused()
    {
        var p = Parameters(Config(), 1);
        var otherVocab = Config();
        otherVocab.VocabSize = 80;
        Assert.Contains("vocab_size 80", Assert.Throws<ArgumentException>(() => new BertForPreTraining(p, new BertForPreTraining(Parameters(otherVocab, 2)))).Message);
        Assert.Contains("shares the student's parameters", Assert.Throws<ArgumentException>(() => new BertForPreTraining(p, new BertForPreTraining(p))).Message);
        var bf16 = Parameters(Config(), 2, Device.Cpu.WithPrecision(Precision.Bf16));
        Assert.Contains("same precision", Assert.Throws<ArgumentException>(() => new BertForPreTraining(p, new BertForPreTraining(bf16))).Message);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new BertForPreTraining(p, new BertForPreTraining(Parameters(Config(), 3)),
            new PretrainingDistillation(Temperature: 0)));
        Assert.Equal(nameof(PretrainingDistillation.Temperature), e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => new PretrainingDistillation(AlphaCos: -1).Validate());
        Assert.Equal(nameof(PretrainingDistillation.AlphaCos), e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PretrainingDistillation(0, 0, 0, 0, 0).Validate());
    }

    [Fact]
    public void Bf16_distillation_gives_finite_losses_close_to_fp32()
    {
        List<StepReport> Run(Precision precision)
        {
            var device = Device.Cpu.WithPrecision(precision);
            var teacher = new BertForPreTraining(Parameters(Config(init: 0.1f), 11, device));
            var trainer = NewTrainer(new BertForPreTraining(Parameters(Config(dropout: 0.1f), 12, device), teacher));
            return Enumerable.Range(0, 5).Select(_ => trainer.TrainStep()).ToList();
        }
        var fp32 = Run(Precision.Fp32);
        var bf16 = Run(Precision.Bf16);
        for (int s = 0; s < fp32.Count; s++)
        {
            var (a, b) = (fp32[s].Metrics, bf16[s].Metrics);
            log.WriteLine($"step {s + 1}: objective {fp32[s].Loss:F4} / {bf16[s].Loss:F4}, soft {a.SoftMlmLoss:F4} / {b.SoftMlmLoss:F4}, "
                + $"cosine {a.CosineLoss:F5} / {b.CosineLoss:F5}, MLM {a.MlmLoss:F4} / {b.MlmLoss:F4}");
            Assert.True(double.IsFinite(bf16[s].Loss) && double.IsFinite(b.SoftMlmLoss) && double.IsFinite(b.CosineLoss));
            Assert.True(Math.Abs(bf16[s].Loss - fp32[s].Loss) <= 0.02 * fp32[s].Loss, $"step {s + 1}: objective {bf16[s].Loss} vs {fp32[s].Loss}");
            Assert.True(Math.Abs(b.SoftMlmLoss - a.SoftMlmLoss) <= 0.05 * a.SoftMlmLoss + 1e-3, $"step {s + 1}: soft {b.SoftMlmLoss} vs {a.SoftMlmLoss}");
            Assert.True(Math.Abs(b.CosineLoss - a.CosineLoss) <= 0.1 * a.CosineLoss + 2e-3, $"step {s + 1}: cosine {b.CosineLoss} vs {a.CosineLoss}");
        }
    }

    [Fact]
    public void A_distilled_step_gives_the_same_bits_for_any_thread_count()
    {
        KT.SameBitsForThreadCounts(() =>
        {
            var trainer = NewTrainer(new BertForPreTraining(Parameters(Config(dropout: 0.1f), 13),
                new BertForPreTraining(Parameters(Config(init: 0.1f), 14))));
            for (int i = 0; i < 2; i++) trainer.TrainStep();
            return trainer.Model.Parameters.ToArray();
        });
    }
}
