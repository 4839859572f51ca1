using BertSharp.Data;
using BertSharp.Distributed;
using BertSharp.Model;
using BertSharp.Tests.Model;
using BertSharp.Training;
using BertSharp.Tests.Training;

namespace BertSharp.Tests.Distributed;

/// <summary>
/// Data parallelism in the one training loop, with the ranks as threads of this process (LocalGroup): N ranks each
/// training on their slice of every global batch must compute the single-process run — same losses per step, same
/// parameters — up to the order of the sums, dropout included.
/// </summary>
[Collection("KernelThreads")]
public class DataParallelTests
{
    private const int Steps = 5;

    private static Trainer NewTrainer(ICommunicator? comm, int validationBatches = 3) =>
        new(NewModel(), new SyntheticPretrainingData(64, 6, 16, 3, 9, batchesPerEpoch: 7, validationBatches: validationBatches),
            new TrainerOptions
            {
                Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 2, 20), GradientAccumulationSteps = 2, Seed = 4,
                Communicator = comm,
            });

    private static BertForPreTraining NewModel()
    {
        var p = new BertParameters(TrainerTests.TinyConfig(dropout: 0.1f));
        p.Initialize(6);
        return new BertForPreTraining(p);
    }

    /// <summary>Runs <paramref name="work"/> on every rank of a new group, each on its own thread.</summary>
    private static T[] OnRanks<T>(int ranks, Func<ICommunicator, T> work)
    {
        var comms = LocalGroup.Create(ranks);
        var results = new T[ranks];
        var errors = new Exception?[ranks];
        var threads = Enumerable.Range(0, ranks).Select(r => new Thread(() =>
        {
            try { results[r] = work(comms[r]); }
            catch (Exception e)
            {
                errors[r] = e;
                try { comms[r].Abort(1); } catch (OperationCanceledException) { }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null and not OperationCanceledException) is { } first) throw first;
        if (errors.FirstOrDefault(e => e is not null) is { } any) throw any;
        return results;
    }

    private static double RelativeDifference(float[] a, float[] b)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs((double)b[i]));
        }
        return diff / scale;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)] // 6 rows: slices of 1, 2, 1, 2
    public void Ranks_compute_the_single_process_run_with_dropout(int ranks)
    {
        var single = NewTrainer(null);
        var expected = Enumerable.Range(0, Steps).Select(_ => single.TrainStep()).ToList();
        var singleEval = single.Evaluate();
        float[] singleParams = single.Model.Parameters.ToArray();

        var runs = OnRanks(ranks, comm =>
        {
            var t = NewTrainer(comm);
            var steps = Enumerable.Range(0, Steps).Select(_ => t.TrainStep()).ToList();
            return (Steps: steps, Eval: t.Evaluate(), Params: t.Model.Parameters.ToArray());
        });

        for (int r = 0; r < ranks; r++)
        {
            // Every rank applied the same update: the same bits everywhere.
            Assert.Equal(runs[0].Params, runs[r].Params);
            for (int s = 0; s < Steps; s++)
            {
                var (a, e) = (runs[r].Steps[s], expected[s]);
                Assert.Equal(e.Metrics.MlmCount, a.Metrics.MlmCount);  // the same items, all of them
                Assert.Equal(e.Metrics.NspCount, a.Metrics.NspCount);
                Assert.Equal(e.Metrics.MlmCorrect, a.Metrics.MlmCorrect);
                Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * Math.Abs(e.Loss), $"rank {r} step {s + 1}: loss {a.Loss} vs {e.Loss}");
                Assert.True(Math.Abs(a.MlmLoss - e.MlmLoss) <= 1e-5 * Math.Abs(e.MlmLoss), $"rank {r} step {s + 1}: MLM loss {a.MlmLoss} vs {e.MlmLoss}");
                Assert.True(Math.Abs(a.GradNorm - e.GradNorm) <= 1e-5 * e.GradNorm, $"rank {r} step {s + 1}: |g| {a.GradNorm} vs {e.GradNorm}");
            }
            // Validation shared out among the ranks: the same figures over the same batches.
            Assert.Equal(singleEval.Metrics.MlmCount, runs[r].Eval.Metrics.MlmCount);
            Assert.True(Math.Abs(runs[r].Eval.Loss - singleEval.Loss) <= 1e-5 * singleEval.Loss, $"validation loss {runs[r].Eval.Loss} vs {singleEval.Loss}");
        }
        double rel = RelativeDifference(runs[0].Params, singleParams);
        Assert.True(rel <= 1e-5, $"parameters differ from the single-process run by {rel:E2} (relative)");
        Assert.True(rel > 0 || ranks == 1, "bit-identical: the test would not notice a rank training on the whole batch");
    }

    [Theory]
    [InlineData(2, 6)]
    [InlineData(4, 3)] // 3 rows over 4 ranks: one rank has no rows (its metrics still carry the objective's weights)
    public void Ranks_distil_as_one_process_each_running_the_teacher_on_its_slice(int ranks, int rows)
    {
        Trainer New(ICommunicator? comm)
        {
            // Each rank loads its own teacher (as each process of an mpirun job does): same weights, its own buffers.
            var teacher = new BertForPreTraining(PretrainingDistillationTests.Parameters(PretrainingDistillationTests.Config(init: 0.1f), 21));
            var student = new BertForPreTraining(PretrainingDistillationTests.Parameters(PretrainingDistillationTests.Config(dropout: 0.1f), 22), teacher);
            return new Trainer(student, new SyntheticPretrainingData(64, rows, 16, 3, 9, batchesPerEpoch: 7, validationBatches: 3),
                new TrainerOptions { Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 2, 20), GradientAccumulationSteps = 2, Seed = 4, Communicator = comm });
        }
        var single = New(null);
        var expected = Enumerable.Range(0, Steps).Select(_ => single.TrainStep()).ToList();
        var singleEval = single.Evaluate();
        var runs = OnRanks(ranks, comm =>
        {
            var t = New(comm);
            return (Steps: Enumerable.Range(0, Steps).Select(_ => t.TrainStep()).ToList(), Eval: t.Evaluate(), Params: t.Model.Parameters.ToArray());
        });
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal(runs[0].Params, runs[r].Params);
            for (int s = 0; s < Steps; s++)
            {
                var (a, e) = (runs[r].Steps[s], expected[s]);
                Assert.Equal(e.Metrics.MlmCount, a.Metrics.MlmCount);
                Assert.Equal(e.Metrics.CosineCount, a.Metrics.CosineCount);
                Assert.True(e.Metrics.SoftMlmLoss > 0 && e.Metrics.CosineLoss > 0);
                Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * Math.Abs(e.Loss), $"rank {r} step {s + 1}: objective {a.Loss} vs {e.Loss}");
                Assert.True(Math.Abs(a.Metrics.SoftMlmLoss - e.Metrics.SoftMlmLoss) <= 1e-5 * e.Metrics.SoftMlmLoss,
                    $"rank {r} step {s + 1}: soft-target loss {a.Metrics.SoftMlmLoss} vs {e.Metrics.SoftMlmLoss}");
                Assert.True(Math.Abs(a.Metrics.CosineLoss - e.Metrics.CosineLoss) <= 1e-5 * e.Metrics.CosineLoss,
                    $"rank {r} step {s + 1}: cosine loss {a.Metrics.CosineLoss} vs {e.Metrics.CosineLoss}");
                Assert.True(Math.Abs(a.GradNorm - e.GradNorm) <= 1e-5 * e.GradNorm, $"rank {r} step {s + 1}: |g| {a.GradNorm} vs {e.GradNorm}");
            }
            Assert.True(Math.Abs(runs[r].Eval.Metrics.Objective - singleEval.Metrics.Objective) <= 1e-5 * singleEval.Metrics.Objective,
                $"validation objective {runs[r].Eval.Metrics.Objective} vs {singleEval.Metrics.Objective}");
        }
        double rel = RelativeDifference(runs[0].Params, single.Model.Parameters.ToArray());
        Assert.True(rel <= 1e-5, $"parameters differ from the single-process run by {rel:E2} (relative)");
        Assert.True(rel > 0, "bit-identical: the test would not notice a rank training on the whole batch");
    }

    [Fact]
    public void Ranks_fine_tune_a_classifier_as_one_process_even_with_a_short_last_batch()
    {
        // 21 texts in batches of 8: the epoch's last batch has 5 rows (3 ranks: slices of 1, 2, 2).
        var vocab = BertSharp.Tests.Model.ClassifierTests.WordVocab();
        var texts = ClassificationEncoder.EncodeAll(BertSharp.Tests.Model.ClassifierTests.SentimentTexts(21, 3), vocab, true, 20);
        var validation = ClassificationEncoder.EncodeAll(BertSharp.Tests.Model.ClassifierTests.SentimentTexts(10, 4), vocab, true, 20);
        Trainer New(ICommunicator? comm)
        {
            var config = new BertConfig { VocabSize = vocab.Count, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32 };
            var p = new BertParameters(config);
            p.Initialize(1);
            var model = new BertForSequenceClassification(p.WithClassifier(["neg", "pos"], 2));
            var data = new ClassificationTrainingData(vocab, texts, validation, 8, 4, 20, seed: 5);
            return new Trainer(model, data, new TrainerOptions { Schedule = new LearningRateSchedule(ScheduleKind.Linear, 1e-3, 1, 9), Seed = 8, Communicator = comm });
        }
        var single = New(null);
        var expected = Enumerable.Range(0, 6).Select(_ => single.TrainStep()).ToList();
        var singleEval = single.Evaluate();
        var runs = OnRanks(3, comm =>
        {
            var t = New(comm);
            return (Steps: Enumerable.Range(0, 6).Select(_ => t.TrainStep()).ToList(), Eval: t.Evaluate(), Params: t.Model.Parameters.ToArray());
        });
        for (int s = 0; s < 6; s++)
        {
            Assert.Equal(expected[s].Metrics.LabelCount, runs[0].Steps[s].Metrics.LabelCount);
            Assert.True(Math.Abs(runs[0].Steps[s].Loss - expected[s].Loss) <= 1e-5 * expected[s].Loss, $"step {s + 1}: {runs[0].Steps[s].Loss} vs {expected[s].Loss}");
        }
        Assert.Equal(singleEval.Metrics.LabelCorrect, runs[2].Eval.Metrics.LabelCorrect);
        double rel = RelativeDifference(runs[1].Params, single.Model.Parameters.ToArray());
        Assert.True(rel <= 1e-5, $"parameters differ by {rel:E2}");
    }

    [Fact]
    public void Ranks_distil_a_classifier_as_one_process_even_when_rank_0_has_no_rows()
    {
        // 17 texts in batches of 8: the third batch has one row, which 2 ranks split as 0 + 1, so rank 0 (the one that
        // reports) has none and must still report the mixed objective, α·soft + (1 − α)·cross-entropy.
        var vocab = BertSharp.Tests.Model.ClassifierTests.WordVocab();
        var rng = new Random(3);
        var texts = ClassificationEncoder.EncodeAll(BertSharp.Tests.Model.ClassifierTests.SentimentTexts(17, 3), vocab, true, 20)
            .Select(e => e with { TeacherLogits = [(float)rng.NextDouble() * 4 - 2, (float)rng.NextDouble() * 4 - 2] }).ToArray();
        var validation = ClassificationEncoder.EncodeAll(BertSharp.Tests.Model.ClassifierTests.SentimentTexts(10, 4), vocab, true, 20);
        Trainer New(ICommunicator? comm)
        {
            var config = new BertConfig { VocabSize = vocab.Count, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32 };
            var p = new BertParameters(config);
            p.Initialize(1);
            var model = new BertForSequenceClassification(p.WithClassifier(["neg", "pos"], 2)) { Distillation = new DistillationLoss(2f, 0.7f) };
            var data = new ClassificationTrainingData(vocab, texts, validation, 8, 4, 20, seed: 5);
            return new Trainer(model, data, new TrainerOptions { Schedule = new LearningRateSchedule(ScheduleKind.Linear, 1e-3, 1, 9), Seed = 8, Communicator = comm });
        }
        var single = New(null);
        var expected = Enumerable.Range(0, 3).Select(_ => single.TrainStep()).ToList();
        Assert.Equal(1, expected[2].Metrics.LabelCount);
        var runs = OnRanks(2, comm => { var t = New(comm); return Enumerable.Range(0, 3).Select(_ => t.TrainStep()).ToList(); });
        for (int r = 0; r < 2; r++)
            for (int s = 0; s < 3; s++)
            {
                var (a, e) = (runs[r][s], expected[s]);
                Assert.Equal(0.7f, (float)a.Metrics.DistillWeight);
                Assert.True(e.Metrics.DistillLoss > 0 && Math.Abs(a.Metrics.DistillLoss - e.Metrics.DistillLoss) <= 1e-5 * e.Metrics.DistillLoss,
                    $"rank {r} step {s + 1}: soft-target loss {a.Metrics.DistillLoss} vs {e.Metrics.DistillLoss}");
                Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * e.Loss, $"rank {r} step {s + 1}: objective {a.Loss} vs {e.Loss}");
            }
    }

    [Fact]
    public void Rank_slices_draw_the_global_batchs_dropout_masks()
    {
        // Without the row offset each slice would reuse rows 0.. of the global mask: the update would differ by far
        // more than rounding. With a wrong offset the previous test fails; here the mask itself is checked.
        float[] x = Enumerable.Range(0, 64).Select(i => 1f + i).ToArray();
        var whole = new float[64];
        BertSharp.Tensors.Dropout.Forward(x, whole, 0.3f, 11, 5, 2);
        foreach (int offset in new[] { 16, 20, 3, 37 })
        {
            var part = new float[64 - offset];
            BertSharp.Tensors.Dropout.Forward(x.AsSpan(offset), part, 0.3f, 11, 5, 2, offset);
            Assert.Equal(whole.AsSpan(offset).ToArray(), part);
        }
    }

    [Fact]
    public void A_failing_rank_stops_the_others_instead_of_leaving_them_waiting()
    {
        var e = Assert.ThrowsAny<Exception>(() => OnRanks(2, comm =>
        {
            var t = NewTrainer(comm);
            t.TrainStep();
            if (comm.Rank == 1) throw new InvalidOperationException("rank 1 fails");
            t.TrainStep(); // rank 0 waits in the allreduce until it learns that rank 1 is gone
            return 0;
        }));
        Assert.Contains("rank 1 fails", e.Message);
    }
}
