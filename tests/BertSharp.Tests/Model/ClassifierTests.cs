using BertSharp.Data;
using BertSharp.Tensors;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.IO;
using BertSharp.Text;
using BertSharp.Runs;
using Xunit.Abstractions;

namespace BertSharp.Tests.Model;

/// <summary>
/// BertForSequenceClassification against PyTorch (tools/reference/classifier_reference.py: the reference encoder
/// and pooler with HF's classification head, float64): logits, loss with an ignored row, and the gradient of every
/// parameter, classifier head included.
/// </summary>
public class ClassifierTests(ITestOutputHelper log)
{
    private static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double absoluteScale = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = absoluteScale, worst = 0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs((double)e));
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - (double)expected[i]));
        return scale == 0 ? worst : worst / scale;
    }

    [Fact]
    public void Forward_loss_and_every_gradient_match_pytorch()
    {
        using var r = new SafeTensorsReader(ModelTestFiles.Fixture("classifier_golden.safetensors"));
        var config = new BertConfig
        {
            VocabSize = 99, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 37,
            MaxPositionEmbeddings = 64, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0,
        };
        var p = new BertParameters(config, ["a", "b", "c"]);
        foreach (var e in p.Layout.Entries)
            if (r.Contains("param/" + e.Name)) r.ReadF32("param/" + e.Name, p.Values.AsSpan(e.Offset, e.Length), e.Shape);
            else Assert.StartsWith("cls.", e.Name); // the pretraining heads are not part of the classifier
        int[] ids = r.ReadInt32("input_ids"), types = r.ReadInt32("token_type_ids"), mask = r.ReadInt32("attention_mask"), labels = r.ReadInt32("labels");
        Assert.Contains(BertForSequenceClassification.IgnoreLabel, labels);

        var model = new BertForSequenceClassification(p);
        var o = model.Forward(BertBatch.CreateForClassification(4, 12, ids, types, mask, labels), DropoutContext.Off);
        double logitErr = RelativeError(model.Logits.AsSpan(), r.ReadF32("logits"));
        float expectedLoss = r.ReadF32("loss")[0];
        log.WriteLine($"logits rel err {logitErr:E2}, loss {o.Loss} vs {expectedLoss}");
        Assert.True(logitErr <= 1e-5, $"logits relative error {logitErr:E2}");
        Assert.True(Math.Abs(o.Loss - expectedLoss) <= 1e-5 * expectedLoss, $"loss {o.Loss} vs {expectedLoss}");
        Assert.Equal(3, o.LabelCount);

        p.ZeroGradients();
        model.Backward();
        double worst = 0;
        foreach (var e in p.Layout.Entries)
        {
            var g = p.Gradients.AsSpan(e.Offset, e.Length);
            if (!r.Contains("grad/" + e.Name))
            {
                Assert.All(g.ToArray(), v => Assert.Equal(0f, v)); // pretraining heads: untouched
                continue;
            }
            double err = RelativeError(g, r.ReadF32("grad/" + e.Name), absoluteScale: 1e-3);
            worst = Math.Max(worst, err);
            Assert.True(err <= 1e-4, $"gradient of {e.Name}: relative error {err:E2}");
        }
        double wErr = RelativeError(p.Gradient("classifier.weight").AsSpan(), r.ReadF32("grad/classifier.weight"));
        double bErr = RelativeError(p.Gradient("classifier.bias").AsSpan(), r.ReadF32("grad/classifier.bias"));
        log.WriteLine($"worst encoder gradient rel err {worst:E2}; classifier weight {wErr:E2}, bias {bErr:E2}");
        Assert.True(wErr <= 1e-5 && bErr <= 1e-5, $"classifier gradients: weight {wErr:E2}, bias {bErr:E2}");
    }

    [Fact]
    public void Head_gradient_matches_finite_differences()
    {
        // Float64 central differences of the float32 loss would be noisy; use a large step on a tiny model and
        // compare the classifier head's analytic gradient within a few percent of the difference quotient.
        var config = HfTestModel.Config();
        config.HiddenDropoutProb = config.AttentionProbsDropoutProb = 0;
        var p = new BertParameters(config);
        p.Initialize(3);
        p = p.WithClassifier(["x", "y"], 4, 0.5f);
        var model = new BertForSequenceClassification(p);
        var (ids, types, mask) = HfTestModel.Inputs();
        int[] labels = [1, 0];
        double Loss() => model.Forward(BertBatch.CreateForClassification(2, 8, ids, types, mask, labels), DropoutContext.Off).Loss;
        Loss();
        p.ZeroGradients();
        model.Backward();
        var analytic = p.Gradient("classifier.weight").ToArray().Concat(p.Gradient("classifier.bias").ToArray()).ToArray();
        int k = 0;
        foreach (var name in new[] { "classifier.weight", "classifier.bias" })
            for (int i = 0; i < p.Layout[name].Length; i++, k++)
            {
                int at = p.Layout[name].Offset + i;
                float keep = p.Values.AsSpan()[at], h = 1e-2f;
                p.Values.AsSpan()[at] = keep + h; double up = Loss();
                p.Values.AsSpan()[at] = keep - h; double down = Loss();
                p.Values.AsSpan()[at] = keep;
                double numeric = (up - down) / (2 * h);
                Assert.True(Math.Abs(numeric - analytic[k]) <= 2e-3 + 0.02 * Math.Abs(numeric), $"param {k}: analytic {analytic[k]} numeric {numeric}");
            }
    }

    [Theory]
    [InlineData(600, 512, 128, 128, 382)]
    [InlineData(300, 512, 128, 300, 0)]
    [InlineData(510, 512, 128, 510, 0)]
    [InlineData(1000, 128, 32, 32, 94)]
    public void Head_and_tail_truncation_keeps_the_ends(int tokens, int maxLength, int expectedHeadDefault, int head, int tail)
    {
        Assert.Equal(expectedHeadDefault, HeadTailTruncation.DefaultHeadTokens(maxLength));
        Assert.Equal((head, tail), HeadTailTruncation.Split(tokens, maxLength - 2, expectedHeadDefault));
        var ids = Enumerable.Range(0, tokens).ToList();
        var kept = HeadTailTruncation.Apply(ids, maxLength - 2, expectedHeadDefault);
        Assert.Equal(Enumerable.Range(0, head).Concat(Enumerable.Range(tokens - tail, tail)), kept);
    }

    internal static Vocabulary WordVocab() => Vocabulary.FromTokens(Vocabulary.DefaultSpecialTokens
        .Concat(["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "was", "plot", "acting", "and", "a", "i", "it"]));

    /// <summary>Reviews whose sentiment is carried by one word among filler, in random positions.</summary>
    internal static List<(string Text, int Label)> SentimentTexts(int count, ulong seed)
    {
        string[] pos = ["good", "great", "fine"], neg = ["bad", "awful", "poor"], filler = ["the", "movie", "was", "plot", "acting", "and", "a", "i", "it"];
        var rng = new SplitMix64(seed);
        var list = new List<(string, int)>();
        for (int i = 0; i < count; i++)
        {
            int label = i % 2;
            var words = Enumerable.Range(0, 4 + rng.NextInt(10)).Select(_ => filler[rng.NextInt(filler.Length)]).ToList();
            words.Insert(rng.NextInt(words.Count + 1), (label == 1 ? pos : neg)[rng.NextInt(3)]);
            list.Add((string.Join(' ', words), label));
        }
        return list;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fine_tuning_learns_a_separable_task_and_reports_each_epoch(bool groupByLength)
    {
        var vocab = WordVocab();
        var config = new BertConfig
        {
            VocabSize = vocab.Count, HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 64,
            MaxPositionEmbeddings = 32,
        };
        var p = new BertParameters(config);
        p.Initialize(1);
        p = p.WithClassifier(["neg", "pos"], 2);
        var model = new BertForSequenceClassification(p);
        var train = ClassificationEncoder.EncodeAll(SentimentTexts(256, 1), vocab, true, 24);
        var eval = ClassificationEncoder.EncodeAll(SentimentTexts(100, 2), vocab, true, 24);
        var logs = new List<string>();
        var tuner = new FineTuner(model, vocab, 24, new FineTuningRecipe
        {
            // 6 epochs: this toy task sits on a 50 % plateau for 1-3 epochs depending on the batch order.
            Epochs = 6, BatchSize = 16, EvalBatchSize = 30, LearningRate = 3e-3, WarmupRatio = 0.1, Seed = 7, LogEvery = 0,
            GroupByLength = groupByLength, LengthGroupBatches = 4,
        }) { Log = logs.Add };
        var history = tuner.Train(train, eval);
        foreach (var l in logs) log.WriteLine(l);
        Assert.Equal(6, history.Count);
        Assert.Equal(FineTuner.TotalSteps(256, new FineTuningRecipe { Epochs = 6, BatchSize = 16 }), history[^1].Step);
        Assert.Equal(100, tuner.Evaluate(eval).Count); // the partial last batch (100 = 3×30 + 10) is scored too
        Assert.True(history[^1].EvalAccuracy >= 0.95, $"eval accuracy {history[^1].EvalAccuracy:P1}");
        Assert.True(history[^1].TrainLoss < history[0].TrainLoss);
        // Evaluation batches texts by length; each prediction must still land on its own text, as scoring one by one.
        var all = tuner.Evaluate(eval);
        for (int i = 0; i < eval.Length; i++)
            Assert.Equal(tuner.Evaluate([eval[i]]).Predictions[0], all.Predictions[i]);
    }

    /// <summary>The fine-tuning data source (the epoch orders) as FineTuner makes it from these options.</summary>
    private static ClassificationTrainingData TinyData(Vocabulary vocab, IReadOnlyList<LabelledExample> train, FineTuningRecipe options) =>
        new(vocab, train, [], options.BatchSize, options.EvalBatchSize, 20, options.Seed, options.GroupByLength, options.LengthGroupBatches);

    [Fact]
    public void Length_grouping_visits_every_text_once_in_sorted_groups_and_cuts_padding()
    {
        var vocab = WordVocab();
        var train = ClassificationEncoder.EncodeAll(SentimentTexts(203, 5), vocab, true, 20); // 12 full batches of 16 and one of 11
        var options = new FineTuningRecipe { BatchSize = 16, GroupByLength = true, LengthGroupBatches = 4, Seed = 9 };
        var grouped = TinyData(vocab, train, options);
        var plain = TinyData(vocab, train, new FineTuningRecipe { BatchSize = 16, Seed = 9 });
        var order = new int[train.Length];
        var starts = grouped.EpochOrder(1, order);

        Assert.Equal(Enumerable.Range(0, train.Length), order.Order());                 // a permutation of the texts
        Assert.Equal(Enumerable.Range(0, 13).Select(k => k * 16), starts.Order());      // every batch once
        Assert.Equal(12 * 16, starts[^1]);                                              // the short batch stays last
        Assert.NotEqual(Enumerable.Range(0, 13).Select(k => k * 16), starts);           // batch order shuffled
        for (int g = 0; g < order.Length; g += 64)                                      // each group longest first
            for (int i = g + 1; i < Math.Min(g + 64, order.Length); i++)
                Assert.True(train[order[i - 1]].Tokens.Length >= train[order[i]].Tokens.Length, $"group at {g} unsorted at {i}");
        var again = new int[train.Length];
        Assert.Equal(starts, grouped.EpochOrder(1, again));                      // deterministic
        Assert.Equal(order, again);
        // Without grouping: the same seeded shuffle as before grouping existed, batches as consecutive slices.
        var plainOrder = new int[train.Length];
        Assert.Equal(Enumerable.Range(0, 13).Select(k => k * 16), plain.EpochOrder(1, plainOrder));
        var expected = Enumerable.Range(0, train.Length).ToArray();
        var shuffle = new SplitMix64(9 ^ (0x9E3779B97F4A7C15UL * 1));
        for (int i = expected.Length - 1; i > 0; i--)
        {
            int j = shuffle.NextInt(i + 1);
            (expected[i], expected[j]) = (expected[j], expected[i]);
        }
        Assert.Equal(expected, plainOrder);

        long Padded(ClassificationTrainingData t)
        {
            var o = new int[train.Length];
            long cells = 0;
            foreach (int s in t.EpochOrder(1, o))
            {
                int n = Math.Min(16, o.Length - s), longest = 0;
                for (int i = 0; i < n; i++) longest = Math.Max(longest, train[o[s + i]].Tokens.Length);
                cells += (long)n * longest;
            }
            return cells;
        }
        long real = train.Sum(e => (long)e.Tokens.Length);
        long groupedCells = Padded(grouped), plainCells = Padded(plain);
        log.WriteLine($"token cells: real {real}, grouped {groupedCells}, plain {plainCells}");
        Assert.True(groupedCells - real < (plainCells - real) / 3, $"padding grouped {groupedCells - real} vs plain {plainCells - real}");
    }

    [Fact]
    public void Fine_tuning_neither_updates_nor_decays_the_pretraining_heads()
    {
        var vocab = WordVocab();
        var config = new BertConfig { VocabSize = vocab.Count, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32 };
        var p = new BertParameters(config);
        p.Initialize(1);
        p = p.WithClassifier(["neg", "pos"], 2);
        var before = p.Values.ToArray();
        var train = ClassificationEncoder.EncodeAll(SentimentTexts(40, 3), vocab, true, 20);
        new FineTuner(new BertForSequenceClassification(p), vocab, 20, new FineTuningRecipe { Epochs = 1, BatchSize = 8, LearningRate = 1e-3, WeightDecay = 0.5f })
            .Train(train, []);
        foreach (var e in p.Layout.Entries)
        {
            bool same = p.Values.AsSpan(e.Offset, e.Length).SequenceEqual(before.AsSpan(e.Offset, e.Length));
            // Trunk and classifier train; the MLM/NSP heads are carried along bit for bit (no update, no decay).
            if (e.Group == ParameterGroups.PreTrainingHeads) Assert.True(same, e.Name);
            else if (e.Name is "bert.encoder.layer.0.attention.self.query.weight" or "classifier.weight") Assert.False(same, e.Name);
        }
    }

    [Fact]
    public void Same_seed_gives_bit_identical_fine_tuning()
    {
        var vocab = WordVocab();
        float[] Run()
        {
            var config = new BertConfig { VocabSize = vocab.Count, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32 };
            var p = new BertParameters(config);
            p.Initialize(1);
            p = p.WithClassifier(["neg", "pos"], 2);
            var train = ClassificationEncoder.EncodeAll(SentimentTexts(40, 3), vocab, true, 20);
            new FineTuner(new BertForSequenceClassification(p), vocab, 20, new FineTuningRecipe { Epochs = 1, BatchSize = 8, LearningRate = 1e-3 })
                .Train(train, []);
            return p.Values.ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Labelled_folder_and_json_lines_are_read_with_their_labels()
    {
        string dir = ModelTestFiles.NewTempDir();
        try
        {
            foreach (var (label, texts) in new[] { ("neg", new[] { "bad film", "awful" }), ("pos", new[] { "great", "good fun", "  " }) })
            {
                Directory.CreateDirectory(Path.Combine(dir, "folder", label));
                for (int i = 0; i < texts.Length; i++) File.WriteAllText(Path.Combine(dir, "folder", label, $"{i}.txt"), texts[i]);
            }
            var f = LabelledCorpus.Open(Path.Combine(dir, "folder"));
            Assert.Equal(["neg", "pos"], f.Labels);
            Assert.Equal(4, f.Train.Count); // the blank file is skipped
            Assert.Equal(2, f.Train.Count(x => x.Label == 1));

            string jsonl = Path.Combine(dir, "data.jsonl");
            File.WriteAllText(jsonl, "{\"text\": \"fine\", \"label\": 10}\n\n{\"text\": \"poor\", \"label\": 2}\n{\"text\": \"ok\", \"label\": 10}\n");
            var j = LabelledCorpus.Open(jsonl);
            Assert.Equal(["2", "10"], j.Labels); // integers sort numerically
            Assert.Equal([1, 0, 1], j.Train.Select(x => x.Label));

            File.WriteAllText(jsonl, "{\"text\": \"fine\"}\n");
            var e = Assert.Throws<InvalidDataException>(() => LabelledCorpus.Open(jsonl));
            Assert.Contains("data.jsonl:1: no field \"label\"", e.Message);

            // An IMDB folder: train/ and test/ splits, neg = 0, pos = 1, train/unsup skipped, <br /> cleaned.
            string imdb = Path.Combine(dir, "aclImdb");
            foreach (var (split, n) in new[] { ("train/pos", 2), ("train/neg", 1), ("train/unsup", 3), ("test/pos", 1), ("test/neg", 2) })
            {
                Directory.CreateDirectory(Path.Combine(imdb, split));
                for (int i = 0; i < n; i++) File.WriteAllText(Path.Combine(imdb, split, $"{i}_{(split.EndsWith("pos") ? 9 : 2)}.txt"), $"Review {i}.<br /><br />The end.");
            }
            var im = LabelledCorpus.Open(dir + "/aclImdb");
            Assert.Equal(["neg", "pos"], im.Labels);
            Assert.Equal(3, im.Train.Count);
            Assert.Equal([1, 2], new[] { im.Test.Count(x => x.Label == 1), im.Test.Count(x => x.Label == 0) });
            Assert.DoesNotContain("<br", im.Train[0].Text);

            var balanced = LabelledCorpus.Subsample(Enumerable.Range(0, 100).Select(i => ($"t{i}", i < 80 ? 0 : 1)).ToList(), 20, 5);
            Assert.Equal(10, balanced.Count(x => x.Label == 1));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
