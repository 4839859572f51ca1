using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Training;

namespace BertSharp.Tests.Data;

// The trainer runs kernels whose thread count other tests change: keep out of parallel runs with them.
[Collection("KernelThreads")]
public class CorpusPretrainingDataTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bertsharp-data-" + Guid.NewGuid().ToString("N")[..12]);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static readonly BertConfig Tiny = new()
    {
        VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 48, MaxPositionEmbeddings = 32,
    };

    private static readonly BertSharp.Text.InMemoryTokenizedCorpus Corpus =
        SyntheticCorpus.Create(40, 64, medianSentences: 6, sentenceSigma: 0.5, medianSentenceLength: 5, lengthSigma: 0.5, seed: 3);

    private static CorpusPretrainingData Data(bool dynamicPadding = false) =>
        new(Corpus, DocumentSplit.ByFraction(Corpus, 0.2, seed: 1),
            new PretrainingOptions { MaxSeqLength = 16, MaxPredictionsPerSeq = 3, MaxPositionEmbeddings = 32, Seed = 5 }, batchSize: 4, dynamicPadding);

    private TrainerOptions Options() => new()
    {
        Schedule = new LearningRateSchedule(ScheduleKind.Linear, 2e-3, 2, 30),
        OutputDir = _dir,
        Seed = 7,
    };

    private static Trainer NewTrainer(CorpusPretrainingData data, TrainerOptions o)
    {
        var p = new BertParameters(Tiny);
        p.Initialize(1);
        return new Trainer(new BertForPreTraining(p), data, o);
    }

    [Fact]
    public void BatchesAreValidForTheModel()
    {
        using var data = Data(dynamicPadding: true);
        for (int i = 0; i < 30; i++) data.NextTrainingBatch().Validate(Tiny.VocabSize, Tiny.TypeVocabSize, Tiny.MaxPositionEmbeddings, predictions: true);
        Assert.True(data.ValidationBatchCount > 0);
        for (int i = 0; i < data.ValidationBatchCount; i++) data.ValidationBatch(i).Validate(Tiny.VocabSize, Tiny.TypeVocabSize, Tiny.MaxPositionEmbeddings, predictions: true);
    }

    [Fact]
    public void ValidationIsCappedAtTheFirstBatchesAndPositionsAreTheLoaders()
    {
        using var all = Data();
        var split = DocumentSplit.ByFraction(Corpus, 0.2, seed: 1);
        var options = new PretrainingOptions { MaxSeqLength = 16, MaxPredictionsPerSeq = 3, MaxPositionEmbeddings = 32, Seed = 5 };
        using var capped = new CorpusPretrainingData(Corpus, split, options, batchSize: 4, maxValidationBatches: 2);
        Assert.True(all.ValidationBatchCount > 2, $"{all.ValidationBatchCount} validation batches");
        Assert.Equal(2, capped.ValidationBatchCount);
        for (int i = 0; i < 2; i++)
            Assert.Equal(all.ValidationBatch(i).InputIds.ToArray(), capped.ValidationBatch(i).InputIds.ToArray());
        using var uncapped = new CorpusPretrainingData(Corpus, split, options, batchSize: 4, maxValidationBatches: 1000);
        Assert.Equal(all.ValidationBatchCount, uncapped.ValidationBatchCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CorpusPretrainingData(Corpus, split, options, batchSize: 4, maxValidationBatches: -1));

        // The trainer's position is the loader's, item for item, and a seek starts the loader there.
        Assert.Equal(new DataPosition(0, 0), capped.Position);
        capped.NextTrainingBatch();
        Assert.Equal(new DataPosition(0, 4), capped.Position);
        capped.Seek(new DataPosition(1, 8));
        Assert.Equal(new DataPosition(1, 8), capped.Position);
        capped.NextTrainingBatch();
        Assert.Equal(new DataPosition(1, 12), capped.Position);
        Assert.Throws<ArgumentException>(() => capped.Seek(new DataPosition(0, (long)int.MaxValue + 1)));
    }

    [Fact]
    public void TrainingResumedFromACheckpointMatchesAStraightRunBitForBit()
    {
        // Enough steps to cross an epoch boundary of the training documents.
        using var straightData = Data();
        int perEpoch = straightData.BatchesPerEpoch();
        int steps = perEpoch + 3;
        var straight = NewTrainer(straightData, Options());
        for (int i = 0; i < steps; i++) straight.TrainStep();
        Assert.Equal(1, straight.State.Epoch);

        using var firstData = Data();
        var first = NewTrainer(firstData, Options());
        for (int i = 0; i < steps - 5; i++) first.TrainStep();
        string folder = first.SaveCheckpoint();
        using var resumedData = Data();
        var resumed = Trainer.Resume(folder, resumedData, Options());
        for (int i = 0; i < 5; i++) resumed.TrainStep();

        Assert.Equal(straight.Model.Parameters.Values.ToArray(), resumed.Model.Parameters.Values.ToArray());
        Assert.Equal(straight.State.DataPosition, resumed.State.DataPosition);
        var a = straight.Evaluate();
        var b = resumed.Evaluate();
        Assert.Equal(a.MlmLoss, b.MlmLoss);
        Assert.True(a.MlmLoss > 0);
    }
}
