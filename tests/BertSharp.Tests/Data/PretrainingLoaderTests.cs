using BertSharp.Data;
using BertSharp.Text;
using static BertSharp.Tests.Data.DataFixtures;

namespace BertSharp.Tests.Data;

public class PretrainingLoaderTests
{
    private static BertBatch Snapshot(BertBatch b)
    {
        var copy = new BertBatch(b.BatchCapacity, b.MaxSeqLength, b.MaxPredictions);
        copy.CopyRowsFrom(b, 0, b.BatchSize);
        return copy;
    }

    private static void AssertSame(BertBatch x, BertBatch y)
    {
        Assert.Equal(x.BatchSize, y.BatchSize);
        Assert.Equal(x.SeqLength, y.SeqLength);
        int t = x.BatchSize * x.SeqLength, p = x.BatchSize * x.MaxPredictions;
        Assert.Equal(x.InputIds.AsSpan(0, t).ToArray(), y.InputIds.AsSpan(0, t).ToArray());
        Assert.Equal(x.TokenTypeIds.AsSpan(0, t).ToArray(), y.TokenTypeIds.AsSpan(0, t).ToArray());
        Assert.Equal(x.AttentionMask.AsSpan(0, t).ToArray(), y.AttentionMask.AsSpan(0, t).ToArray());
        Assert.Equal(x.MaskedLmPositions.AsSpan(0, p).ToArray(), y.MaskedLmPositions.AsSpan(0, p).ToArray());
        Assert.Equal(x.MaskedLmIds.AsSpan(0, p).ToArray(), y.MaskedLmIds.AsSpan(0, p).ToArray());
        Assert.Equal(x.MaskedLmWeights.AsSpan(0, p).ToArray(), y.MaskedLmWeights.AsSpan(0, p).ToArray());
        Assert.Equal(x.NextSentenceLabels.AsSpan(0, x.BatchSize).ToArray(), y.NextSentenceLabels.AsSpan(0, y.BatchSize).ToArray());
    }

    private static bool Same(BertBatch x, BertBatch y) =>
        x.BatchSize == y.BatchSize && x.SeqLength == y.SeqLength
        && x.InputIds.AsSpan(0, x.BatchSize * x.SeqLength).SequenceEqual(y.InputIds.AsSpan(0, y.BatchSize * y.SeqLength))
        && x.MaskedLmPositions.AsSpan(0, x.BatchSize * x.MaxPredictions).SequenceEqual(y.MaskedLmPositions.AsSpan(0, y.BatchSize * y.MaxPredictions));

    private static List<BertBatch> Take(PretrainingDataset ds, int batchSize, int count, bool dynamic = false, DataPosition start = default, int prefetch = 3)
    {
        using var loader = new PretrainingLoader(ds, batchSize, dynamic, start, prefetch);
        var result = new List<BertBatch>();
        for (int i = 0; i < count; i++) result.Add(Snapshot(loader.Next()));
        return result;
    }

    [Fact]
    public void SameSeedSameBatchesDifferentSeedDifferentBatches()
    {
        var corpus = ManySentences(80);
        var a = Take(AllDocuments(corpus, new PretrainingOptions { Seed = 1 }), 8, 40, prefetch: 1);
        var b = Take(AllDocuments(corpus, new PretrainingOptions { Seed = 1 }), 8, 40, prefetch: 4);
        var c = Take(AllDocuments(corpus, new PretrainingOptions { Seed = 2 }), 8, 40);
        for (int i = 0; i < a.Count; i++) AssertSame(a[i], b[i]);
        Assert.True(Enumerable.Range(0, a.Count).All(i => !Same(a[i], c[i])));
    }

    [Fact]
    public void FirstBatchIsPinned()
    {
        // Pins the whole recipe (planning, shuffle, masking, RNG): a change here changes every run's data.
        var corpus = ManySentences(50, seed: 7);
        var batch = Take(AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 32, MaxPredictionsPerSeq = 5, Seed = 42 }), 4, 1)[0];
        ulong h = 1469598103934665603UL;
        foreach (int v in batch.InputIds.AsSpan(0, 4 * 32)) h = (h ^ (uint)v) * 1099511628211UL;
        foreach (int v in batch.MaskedLmPositions.AsSpan(0, 4 * 5)) h = (h ^ (uint)v) * 1099511628211UL;
        foreach (int v in batch.NextSentenceLabels.AsSpan(0, 4)) h = (h ^ (uint)v) * 1099511628211UL;
        Assert.Equal(PinnedHash, h);
    }

    private const ulong PinnedHash = 16283078243693473041UL;

    [Fact]
    public void LoaderMatchesASynchronousReference()
    {
        // The background thread adds nothing: batches equal plan + shuffle + write done inline.
        var corpus = ManySentences(60);
        var options = new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 8 };
        var ds = AllDocuments(corpus, options);
        const int B = 16;
        var fromLoader = Take(ds, B, 30, dynamic: true);
        var writer = new BatchWriter(ds);
        var expected = new BertBatch(B, 64, 10);
        var items = new PretrainingItem[16];
        int produced = 0;
        for (long epoch = 0; produced < fromLoader.Count; epoch++)
        {
            int count = ds.PlanCopy(options.CopyForEpoch(epoch), ref items);
            var order = new int[count];
            PretrainingDataset.ShuffledOrder(options.Seed, epoch, order);
            for (int start = 0; start + B <= count && produced < fromLoader.Count; start += B)
            {
                var batchItems = order.Skip(start).Take(B).Select(i => items[i]).ToArray();
                writer.Fill(expected, batchItems, options.CopyForEpoch(epoch), dynamicPadding: true);
                AssertSame(expected, fromLoader[produced++]);
            }
        }
    }

    [Fact]
    public void ResumingFromASavedPositionContinuesWithTheIdenticalNextBatch()
    {
        var corpus = ManySentences(40);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 3 });
        const int B = 32;
        using var loader = new PretrainingLoader(ds, B);
        var positions = new List<DataPosition> { loader.Position };
        var batches = new List<BertBatch>();
        long firstEpochEnd = -1;
        for (int i = 0; i < 60; i++)
        {
            batches.Add(Snapshot(loader.Next()));
            positions.Add(loader.Position);
            if (firstEpochEnd < 0 && loader.Position.Epoch > 0) firstEpochEnd = i;
        }
        Assert.True(firstEpochEnd > 0, "the run should cross an epoch boundary");
        Assert.Equal(ds.BatchCount(0, B), firstEpochEnd); // batch firstEpochEnd is the first of epoch 1; the partial one is dropped
        // Resume from several saved positions, including the one that crosses into epoch 1.
        foreach (int k in new[] { 1, 7, (int)firstEpochEnd, (int)firstEpochEnd + 1, 45 })
        {
            using var resumed = new PretrainingLoader(ds, B, start: positions[k]);
            AssertSame(batches[k], resumed.Next());
            AssertSame(batches[k + 1], resumed.Next());
        }
    }

    [Fact]
    public void ValidationDocumentsNeverReachTrainingBatches()
    {
        var corpus = Tagged(200);
        var split = DocumentSplit.ByFraction(corpus, 0.25, seed: 5);
        Assert.Empty(split.Train.Intersect(split.Validation));
        Assert.Equal(corpus.DocumentCount, split.Train.Length + split.Validation.Length);
        Assert.InRange(split.Validation.Length, 30, 70);
        var options = new PretrainingOptions { MaxSeqLength = 32, MaxPredictionsPerSeq = 5, Seed = 5 };
        var train = new PretrainingDataset(corpus, split.Train, options);
        var held = split.Validation.ToHashSet();
        var seen = new HashSet<int>();
        using (var loader = new PretrainingLoader(train, 16))
        {
            while (loader.Position.Epoch < 2)
            {
                var batch = loader.Next();
                for (int b = 0; b < batch.BatchSize; b++)
                    foreach (int id in UnmaskedRow(batch, b, batch.SeqLength))
                        if (!Sp.IsSpecial(id)) seen.Add(DocumentOfTaggedToken(id));
            }
        }
        Assert.Empty(seen.Intersect(held));
        Assert.True(seen.Count > split.Train.Length * 9 / 10);

        var validation = new ValidationSet(new PretrainingDataset(corpus, split.Validation, options, "validation"));
        var vbatch = new BertBatch(16, 32, 5);
        for (int i = 0; i < validation.BatchCount(16); i++)
        {
            validation.Fill(vbatch, i);
            for (int b = 0; b < vbatch.BatchSize; b++)
                foreach (int id in UnmaskedRow(vbatch, b, vbatch.SeqLength))
                    if (!Sp.IsSpecial(id)) Assert.Contains(DocumentOfTaggedToken(id), held);
        }
    }

    [Fact]
    public void ValidationItemsAreFixedAcrossEpochs()
    {
        var corpus = ManySentences(60);
        var split = DocumentSplit.ByFraction(corpus, 0.3, seed: 1);
        var options = new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 4 };
        var v1 = new ValidationSet(new PretrainingDataset(corpus, split.Validation, options, "validation"));
        var v2 = new ValidationSet(new PretrainingDataset(corpus, split.Validation, options, "validation"));
        var x = new BertBatch(8, 64, 10);
        var y = new BertBatch(8, 64, 10);
        int last = v1.BatchCount(8) - 1;
        foreach (int i in new[] { 0, last })
        {
            v1.Fill(x, i);
            v2.Fill(y, i);
            AssertSame(x, y);
            v1.Fill(y, i); // a second pass over the same set
            AssertSame(x, y);
        }
        v1.Fill(x, last);
        Assert.Equal(v1.Count - last * 8, x.BatchSize); // partial final batch kept
    }

    [Fact]
    public void SplitByNamesMatchesPrefixesAndRejectsUnknownNames()
    {
        var docs = Enumerable.Range(0, 12).Select(d => new[] { new[] { 5 + d, 6 }, new[] { 7, 8 } }).ToArray();
        string[] names = ["train/pos", "train/neg", "train/unsup", "test/pos", "test/neg"];
        var info = Enumerable.Range(0, 12).Select(d => new DocumentInfo(d % 5, -1, 0)).ToArray();
        var corpus = new InMemoryTokenizedCorpus(50, docs, info, names);
        var split = DocumentSplit.BySplitNames(corpus, ["train"], ["test"]);
        Assert.All(split.Train, d => Assert.StartsWith("train/", names[d % 5]));
        Assert.All(split.Validation, d => Assert.StartsWith("test/", names[d % 5]));
        Assert.Equal(12, split.Train.Length + split.Validation.Length);
        var some = DocumentSplit.BySplitNames(corpus, ["train/pos", "train/neg"], ["test"], 0.5, seed: 3);
        Assert.True(some.Validation.Length < split.Validation.Length);
        Assert.DoesNotContain(some.Train, d => names[d % 5] == "train/unsup");
        var e = Assert.Throws<ArgumentException>(() => DocumentSplit.BySplitNames(corpus, ["training"], ["test"]));
        Assert.Contains("'training' matches none", e.Message);
        Assert.Throws<ArgumentException>(() => DocumentSplit.BySplitNames(corpus, ["train"], ["train/pos"]));
    }

    [Fact]
    public void DynamicPaddingRoundsTheLongestUpToAMultipleOf8()
    {
        var corpus = ManySentences(60);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 128, ShortSeqProb = 1.0, Seed = 6 });
        int shorter = 0;
        ForEachRow(ds, 0, 4, dynamicPadding: true, (batch, b, item) =>
        {
            Assert.True(batch.SeqLength % 8 == 0 && batch.SeqLength <= 128);
            Assert.True(item.SequenceLength <= batch.SeqLength);
            if (b == 0 && batch.SeqLength < 128) shorter++;
        });
        Assert.True(shorter > 10);
        ForEachRow(ds, 0, 4, dynamicPadding: false, (batch, b, item) => Assert.Equal(128, batch.SeqLength));
    }

    [Fact]
    public void StaticMaskingRepeatsEveryDupeFactorEpochsDynamicNever()
    {
        var corpus = ManySentences(40);
        PretrainingItem[] Plan(PretrainingOptions o, long epoch)
        {
            var ds = AllDocuments(corpus, o);
            var items = new PretrainingItem[16];
            int n = ds.PlanCopy(o.CopyForEpoch(epoch), ref items);
            return items.Take(n).ToArray();
        }
        var st = new PretrainingOptions { Masking = MaskingMode.Static, DupeFactor = 3, Seed = 1 };
        Assert.Equal(Plan(st, 1), Plan(st, 4));
        Assert.NotEqual(Plan(st, 1), Plan(st, 2));
        var dy = new PretrainingOptions { Masking = MaskingMode.Dynamic, Seed = 1 };
        Assert.NotEqual(Plan(dy, 1), Plan(dy, 4));
        // Same items, different order: static epochs 0 and 3 are reshuffled.
        var ds0 = AllDocuments(corpus, st);
        var o0 = new int[100]; var o3 = new int[100];
        PretrainingDataset.ShuffledOrder(1, 0, o0);
        PretrainingDataset.ShuffledOrder(1, 3, o3);
        Assert.NotEqual(o0, o3);
        Assert.Equal(Enumerable.Range(0, 100), o0.Order());
    }

    [Fact]
    public void KeepingTheLastPartialBatchCoversEveryItemOnce()
    {
        var corpus = ManySentences(30);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 12 });
        int count = ds.ItemCount(0);
        const int B = 24;
        Assert.NotEqual(0, count % B);
        using var loader = new PretrainingLoader(ds, B, dropLast: false);
        int rows = 0, batches = 0;
        while (loader.Position.Epoch == 0)
        {
            var batch = loader.Next();
            rows += batch.BatchSize;
            batches++;
            if (loader.Position.Epoch == 0 && loader.Position.Index < count) Assert.Equal(B, batch.BatchSize);
        }
        // The last batch read belongs to epoch 1; the ones before cover epoch 0 exactly.
        Assert.Equal(ds.BatchCount(0, B, dropLast: false) + 1, batches);
        Assert.Equal(count + B, rows);
    }

    [Fact]
    public void ProducerFailureSurfacesOnNext()
    {
        var corpus = ManySentences(3);
        var ds = AllDocuments(corpus, new PretrainingOptions { Seed = 1 });
        using var loader = new PretrainingLoader(ds, batchSize: 10_000);
        var e = Assert.Throws<InvalidOperationException>(() => loader.Next());
        Assert.Contains("exceeds", e.Message);
    }
}
