using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Training;
using BertSharp.Tests.Model;
using Xunit.Abstractions;

namespace BertSharp.Tests.Training;

// Tests here change KernelParallel.ThreadCount: keep them out of parallel runs with each other.
[Collection("KernelThreads")]
public class TrainerTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static BertConfig TinyConfig(float dropout = 0.1f) => new()
    {
        VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 48,
        MaxPositionEmbeddings = 32, HiddenDropoutProb = dropout, AttentionProbsDropoutProb = dropout,
    };

    private static SyntheticPretrainingData Data(ulong seed = 9) => new(64, 4, 16, 3, seed, batchesPerEpoch: 7);

    private TrainerOptions Options(string? dir = null, int accumulation = 1) => new()
    {
        Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 3, 40),
        GradientAccumulationSteps = accumulation,
        OutputDir = dir,
        KeepLast = 2,
        Seed = 77,
    };

    private static Trainer NewTrainer(TrainerOptions o, BertConfig? c = null, ulong initSeed = 1)
    {
        var p = new BertParameters(c ?? TinyConfig());
        p.Initialize(initSeed);
        return new Trainer(new BertForPreTraining(p), Data(), o);
    }

    [Fact]
    public void A_run_resumes_in_another_precision_and_says_so_and_bf16_resume_is_bit_exact()
    {
        var bf16 = Device.Cpu.WithPrecision(Precision.Bf16);
        Trainer Bf16Trainer(TrainerOptions o)
        {
            var p = new BertParameters(TinyConfig(), device: bf16);
            p.Initialize(1);
            return new Trainer(new BertForPreTraining(p), Data(), o);
        }
        var straight = Bf16Trainer(Options());
        for (int i = 0; i < 8; i++) straight.TrainStep();
        Assert.Equal("bf16", straight.State.Precision);

        // bf16 stopped and resumed in bf16: the same bits as uninterrupted.
        string dir = Path.Combine(_dir, "bf16");
        var first = Bf16Trainer(Options(dir));
        for (int i = 0; i < 4; i++) first.TrainStep();
        string folder = first.SaveCheckpoint();
        var again = Trainer.Resume(folder, Data(), Options(dir), bf16);
        Assert.Null(again.PrecisionChangedFrom);
        for (int i = 0; i < 4; i++) again.TrainStep();
        Assert.Equal(straight.Model.Parameters.Values.ToArray(), again.Model.Parameters.Values.ToArray());

        // The same bf16 checkpoint resumed in fp32: allowed, reported, recorded; the losses stay close.
        var fp32 = Trainer.Resume(folder, Data(), Options(dir), Device.Cpu);
        Assert.Equal("bf16", fp32.PrecisionChangedFrom);
        Assert.Equal("fp32", fp32.State.Precision);
        var r = fp32.TrainStep();
        var b = Trainer.Resume(folder, Data(), Options(dir), bf16).TrainStep();
        Assert.True(Math.Abs(r.Loss - b.Loss) < 0.02 * b.Loss, $"fp32 {r.Loss} vs bf16 {b.Loss}");
        Assert.NotEqual(r.Loss, b.Loss);
    }

    [Fact]
    public void Twenty_steps_equal_ten_then_save_load_and_ten_more_bit_for_bit()
    {
        var straight = NewTrainer(Options(accumulation: 2));
        for (int i = 0; i < 20; i++) straight.TrainStep();

        string dir = Path.Combine(_dir, "run");
        var first = NewTrainer(Options(dir, accumulation: 2));
        for (int i = 0; i < 10; i++) first.TrainStep();
        string folder = first.SaveCheckpoint();
        // Keep the process's state from helping: everything comes back from disk.
        var resumed = Trainer.Resume(folder, Data(), Options(dir, accumulation: 2));
        Assert.Equal(10, resumed.State.Step);
        for (int i = 0; i < 10; i++) resumed.TrainStep();

        Assert.Equal(straight.Model.Parameters.Values.ToArray(), resumed.Model.Parameters.Values.ToArray());
        Assert.Equal(straight.Optimizer.ExpAvg.ToArray(), resumed.Optimizer.ExpAvg.ToArray());
        Assert.Equal(straight.Optimizer.ExpAvgSq.ToArray(), resumed.Optimizer.ExpAvgSq.ToArray());
        Assert.Equal(straight.State.MicroStep, resumed.State.MicroStep);
        Assert.Equal(straight.State.DataPosition, resumed.State.DataPosition);
        Assert.Equal(straight.State.Epoch, resumed.State.Epoch);
    }

    [Fact]
    public void Thread_count_does_not_change_results()
    {
        int saved = KernelParallel.ThreadCount;
        try
        {
            float[] Run(int threads)
            {
                KernelParallel.ThreadCount = threads;
                var t = NewTrainer(Options());
                for (int i = 0; i < 3; i++) t.TrainStep();
                return t.Model.Parameters.Values.ToArray();
            }
            var one = Run(1);
            var two = Run(2);
            var three = Run(3);
            Assert.Equal(one, two);
            Assert.Equal(one, three);
        }
        finally { KernelParallel.ThreadCount = saved; }
    }

    [Fact]
    public void Dropout_is_deterministic_per_step_and_drops_the_configured_share()
    {
        var p = new BertParameters(TinyConfig(dropout: 0.25f));
        p.Initialize(3);
        var model = new BertForPreTraining(p);
        var data = Data();
        var batch = data.ValidationBatch(0);
        double off = model.Forward(batch, DropoutContext.Off).Loss;
        double a = model.Forward(batch, new DropoutContext(true, 5, 10)).Loss;
        float[] embA = model.Bert.Embeddings.Output.ToArray();
        double b = model.Forward(batch, new DropoutContext(true, 5, 10)).Loss;
        double c = model.Forward(batch, new DropoutContext(true, 5, 11)).Loss;
        double d = model.Forward(batch, new DropoutContext(true, 6, 10)).Loss;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, d);
        Assert.NotEqual(a, off);

        // Share of zeros in the embedding output ≈ p (4·16·32 = 2048 values; 3σ ≈ 0.029), kept values scaled by 1/(1-p).
        double zeros = embA.Count(x => x == 0f) / (double)embA.Length;
        Assert.InRange(zeros, 0.25 - 0.03, 0.25 + 0.03);
        model.Forward(batch, DropoutContext.Off);
        var plain = model.Bert.Embeddings.Output.ToArray();
        for (int i = 0; i < embA.Length; i++)
            if (embA[i] != 0f) Assert.True(Math.Abs(plain[i] / 0.75f - embA[i]) <= 1e-5f * Math.Abs(embA[i]), $"{i}: {plain[i]} {embA[i]}");
    }

    [Fact]
    public void Gradient_accumulation_of_two_halves_equals_the_whole()
    {
        var p = new BertParameters(TinyConfig(dropout: 0f));
        p.Initialize(4);
        var model = new BertForPreTraining(p);
        var batch = Data().ValidationBatch(1);
        p.ZeroGradients();
        model.Forward(batch, DropoutContext.Off);
        model.Backward();
        var whole = (float[])p.Gradients.Clone();
        p.ZeroGradients();
        for (int i = 0; i < 2; i++)
        {
            model.Forward(batch, DropoutContext.Off);
            model.Backward(0.5f);
        }
        for (int i = 0; i < whole.Length; i++) Assert.Equal(whole[i], p.Gradients.AsSpan()[i], 1e-6f);
    }

    [Fact]
    public void Non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint()
    {
        string dir = Path.Combine(_dir, "nan");
        var t = NewTrainer(Options(dir));
        t.TrainStep();
        string good = t.SaveCheckpoint();
        var before = File.ReadAllBytes(Path.Combine(good, "model.safetensors"));
        t.Model.Parameters.Value("bert.encoder.layer.0.output.dense.weight").AsSpan()[3] = float.NaN;
        var valuesBefore = (float[])t.Model.Parameters.Values.Clone();
        var e = Assert.Throws<TrainingDivergedException>(() => t.TrainStep());
        Assert.Contains("training stopped at step 2: loss is NaN", e.Message);
        Assert.Contains(good, e.Message);
        Assert.Equal(valuesBefore, t.Model.Parameters.Values.ToArray()); // no update applied
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(good, "model.safetensors")));
        Assert.Single(Checkpoint.List(dir));
    }

    [Fact]
    public void Learns_structured_synthetic_data()
    {
        var p = new BertParameters(TinyConfig(dropout: 0f));
        p.Initialize(11);
        var data = new SyntheticPretrainingData(64, 8, 16, 3, 21, batchesPerEpoch: 100000, validationBatches: 4);
        var o = new TrainerOptions { Schedule = new LearningRateSchedule(ScheduleKind.Linear, 3e-3, 10, 400), Seed = 1 };
        var t = new Trainer(new BertForPreTraining(p), data, o);
        var start = t.Evaluate();
        for (int i = 0; i < 160; i++) t.TrainStep();
        var end = t.Evaluate();
        log.WriteLine($"validation: loss {start.Loss:F3} -> {end.Loss:F3}, MLM acc {start.MlmAccuracy:P1} -> {end.MlmAccuracy:P1}, NSP acc {start.NspAccuracy:P1} -> {end.NspAccuracy:P1}");
        // The floor is ln 4 ≈ 1.39 for MLM (4 tokens per topic) from ln 64 ≈ 4.16 at the start.
        Assert.True(end.MlmLoss < start.MlmLoss - 1.0, $"MLM loss {start.MlmLoss:F3} -> {end.MlmLoss:F3}");
        Assert.True(end.MlmAccuracy >= 0.15, $"MLM accuracy {start.MlmAccuracy:P1} -> {end.MlmAccuracy:P1}");
    }

    [Fact]
    public void Smaller_shapes_reuse_the_buffers_and_give_the_same_results_as_a_fresh_model()
    {
        var big = new SyntheticPretrainingData(64, 4, 16, 3, 2);
        var small = new SyntheticPretrainingData(64, 2, 8, 2, 2);
        var p1 = new BertParameters(TinyConfig());
        p1.Initialize(8);
        var p2 = new BertParameters(TinyConfig());
        p2.Initialize(8);
        var reused = new BertForPreTraining(p1);
        var fresh = new BertForPreTraining(p2);
        var d = new DropoutContext(true, 3, 4);
        reused.Forward(big.ValidationBatch(0), d);
        reused.Backward();
        p1.ZeroGradients();

        long before = GC.GetAllocatedBytesForCurrentThread();
        var a = reused.Forward(small.ValidationBatch(0), d);
        reused.Backward();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before); // the (2, 8, 2) shape fits the (4, 16, 3) buffers
        var b = fresh.Forward(small.ValidationBatch(0), d);
        fresh.Backward();
        Assert.Equal(b.Loss, a.Loss);
        Assert.Equal(p2.Gradients.ToArray(), p1.Gradients.ToArray());
    }

    [Fact]
    public void Bad_batches_are_refused_with_the_field_named()
    {
        var p = new BertParameters(TinyConfig());
        var model = new BertForPreTraining(p);
        var ids = new int[32];
        ids[5] = 64;
        var z = new int[32];
        var ones = Enumerable.Repeat(1, 32).ToArray();
        var e = Assert.Throws<ArgumentException>(() => model.Forward(
            BertBatch.Create(2, 16, 1, ids, z, ones, new int[2], new int[2], new float[2], new int[2]), DropoutContext.Off));
        Assert.Contains("input_ids[5] = 64 is outside the vocabulary", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Forward(
            BertBatch.Create(2, 40, 1, new int[80], new int[80], new int[80], new int[2], new int[2], new float[2], new int[2]), DropoutContext.Off));
        Assert.Contains("exceeds max_position_embeddings 32", e.Message);
    }
}
