using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Training;
using BertSharp.Tests.Model;

namespace BertSharp.Tests.Training;

[Collection("KernelThreads")]
public class LoaderTrainingTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The corpus data source over a synthetic corpus, at most 2 validation batches.</summary>
    private static (ITrainingData Data, IDisposable Owner) Data()
    {
        var corpus = BertSharp.Data.SyntheticCorpus.Create(120, 64, 6, 0.4, 8, 0.4, seed: 3, maxSentenceLength: 30);
        var split = BertSharp.Data.DocumentSplit.ByFraction(corpus, 0.2, 5);
        var o = new BertSharp.Data.PretrainingOptions { MaxSeqLength = 32, MaxPredictionsPerSeq = 5, DupeFactor = 1, Seed = 9 };
        var d = new CorpusPretrainingData(corpus, split, o, 4, dynamicPadding: true, maxValidationBatches: 2);
        return (d, d);
    }

    [Fact]
    public void Resumes_bit_exactly_through_the_real_loader_with_dynamic_padding()
    {
        var options = new TrainerOptions
        {
            Schedule = new LearningRateSchedule(ScheduleKind.Linear, 1e-3, 2, 20),
            OutputDir = Path.Combine(_dir, "run"),
            Seed = 4,
            EvalEvery = 3,
        };
        Trainer New(ITrainingData d)
        {
            var p = new BertParameters(TrainerTests.TinyConfig());
            p.Initialize(6);
            return new Trainer(new BertForPreTraining(p), d, options);
        }
        var (d1, ownd1) = Data();
        using var _d1 = ownd1;
        var straight = New(d1);
        for (int i = 0; i < 8; i++) straight.TrainStep();

        var (d2, ownd2) = Data();
        using var _d2 = ownd2;
        var first = New(d2);
        first.Train(untilStep: 4); // evaluates at step 3 and saves at the end
        string folder = Checkpoint.Latest(options.OutputDir!)!;
        Assert.EndsWith("checkpoint-4", folder);
        Assert.Contains(first.State.History, r => r.Split == "validation" && r.Step == 3);

        var (d3, ownd3) = Data();
        using var _d3 = ownd3;
        var resumed = Trainer.Resume(folder, d3, options);
        for (int i = 0; i < 4; i++) resumed.TrainStep();
        Assert.Equal(straight.Model.Parameters.Values.ToArray(), resumed.Model.Parameters.Values.ToArray());
        Assert.Equal(straight.State.DataPosition, resumed.State.DataPosition);
    }
}
