using System.Diagnostics;
using BertSharp.Data;
using BertSharp.Text;

namespace BertSharp.Bench.Suites;

/// <summary>
/// Pretraining items: one epoch of NSP pairs + MLM masks written into batches on one thread, the loader's
/// per-batch cost as the trainer sees it, and the shares (random B, forced random, padding) of the corpus.
/// </summary>
public sealed class ItemsSuite : IBenchSuite
{
    public string Name => "items";
    public string Description => "pretraining items: one epoch at length 128 on one thread, loader cost per batch [--store DIR | --docs N] [--reps N] [--seq N] [--batch N] [--train-steps N --preset NAME] [--whole-word VOCAB]";

    public int Run(string[] args)
    {
        int docs = 100_000, reps = 5, seq = 128, batchSize = 32;
        string? store = null, preset = "tiny", wholeWordVocab = null;
        int trainSteps = 0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--store": store = args[++i]; break;
                case "--train-steps": trainSteps = int.Parse(args[++i]); break;
                case "--preset": preset = args[++i]; break;
                case "--whole-word": wholeWordVocab = args[++i]; break;
                case "--docs": docs = int.Parse(args[++i]); break;
                case "--reps": reps = int.Parse(args[++i]); break;
                case "--seq": seq = int.Parse(args[++i]); break;
                case "--batch": batchSize = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"items: unknown option {args[i]}"); return 2;
            }
        }
        var sw = Stopwatch.StartNew();
        if (store != null)
        {
            // A tokenized store (bertsharp tokenize), e.g. of IMDB: memory-mapped, read as the trainer reads it.
            using var mapped = TokenizedCorpusStore.Open(store);
            Console.WriteLine($"corpus: store {store} ({mapped.Manifest.Source}), opened in {sw.Elapsed.TotalMilliseconds:F0} ms");
            ReportSplits(mapped, seq);
            bool[]? continuation = wholeWordVocab == null ? null
                : PretrainingOptions.ContinuationPiecesFromVocabulary(Vocabulary.Load(wholeWordVocab).Tokens);
            int rc = Measure(mapped, store, seq, batchSize, reps, continuation);
            if (rc == 0 && trainSteps > 0) TrainingShare(mapped, preset, seq, batchSize, trainSteps);
            return rc;
        }
        ITokenizedCorpus corpus = SyntheticCorpus.ImdbLike(docs);
        string source = $"synthetic IMDB-like corpus ({docs:N0} documents)";
        Console.WriteLine($"corpus: {source}, generated in {sw.Elapsed.TotalSeconds:F1} s");
        int code = Measure(corpus, source, seq, batchSize, reps);
        if (code == 0 && trainSteps > 0) TrainingShare(corpus, preset, seq, batchSize, trainSteps);
        return code;
    }

    /// <summary>Real training steps fed by the loader: the time the trainer spends waiting for batches.</summary>
    private static void TrainingShare(ITokenizedCorpus corpus, string preset, int seq, int batchSize, int steps)
    {
        var config = BertSharp.Model.BertConfig.FromPreset(preset, corpus.VocabSize);
        var p = new BertSharp.Model.BertParameters(config);
        p.Initialize(1);
        var options = new PretrainingOptions { MaxSeqLength = seq, MaxPredictionsPerSeq = seq == 128 ? 20 : Math.Max(1, (int)Math.Round(seq * 0.15)), MaxPositionEmbeddings = config.MaxPositionEmbeddings };
        using var inner = new CorpusPretrainingData(corpus, DocumentSplit.All(corpus), options, batchSize);
        var timed = new TimedData(inner);
        var trainer = new BertSharp.Training.Trainer(new BertSharp.Model.BertForPreTraining(p), timed,
            new BertSharp.Training.TrainerOptions { Schedule = new BertSharp.Training.LearningRateSchedule(BertSharp.Training.ScheduleKind.Linear, 1e-4, 10, 10_000) });
        trainer.TrainStep(); // warm-up
        timed.Waits.Clear();
        var stepMs = new List<double>();
        var sw = new Stopwatch();
        for (int i = 0; i < steps; i++)
        {
            sw.Restart();
            trainer.TrainStep();
            stepMs.Add(sw.Elapsed.TotalMilliseconds);
        }
        double step = Median(stepMs), wait = Median(timed.Waits);
        Console.WriteLine($"training ({preset}, batch {batchSize} x {seq}, {BertSharp.Tensors.KernelParallel.ThreadCount} kernel threads, {steps} steps): " +
                          $"median step {step:F0} ms; the trainer waited in NextTrainingBatch median {wait * 1e3:F1} us, max {timed.Waits.Max() * 1e3:F1} us " +
                          $"= {100 * timed.Waits.Sum() / stepMs.Sum():F4}% of the training time");
    }

    private sealed class TimedData(BertSharp.Data.ITrainingData inner) : BertSharp.Data.ITrainingData
    {
        public readonly List<double> Waits = new();
        private readonly Stopwatch _sw = new();
        public BertSharp.Data.BertBatch NextTrainingBatch()
        {
            _sw.Restart();
            var b = inner.NextTrainingBatch();
            Waits.Add(_sw.Elapsed.TotalMilliseconds);
            return b;
        }
        public BertSharp.Data.DataPosition Position => inner.Position;
        public void Seek(BertSharp.Data.DataPosition position) => inner.Seek(position);
        public int ValidationBatchCount => inner.ValidationBatchCount;
        public BertSharp.Data.BertBatch ValidationBatch(int index) => inner.ValidationBatch(index);
    }

    internal static int Measure(ITokenizedCorpus corpus, string source, int seq, int batchSize, int reps, bool[]? continuation = null)
    {
        var options = new PretrainingOptions
        {
            MaxSeqLength = seq, MaxPredictionsPerSeq = Math.Min(seq - 3, (int)Math.Round(seq * 0.15 + 0.5)), Seed = 12345,
            WholeWordMask = continuation != null, ContinuationPieces = continuation,
        };
        if (continuation != null) Console.WriteLine("whole-word masking");
        if (seq == 128) options = options with { MaxPredictionsPerSeq = 20 };
        var sw = Stopwatch.StartNew();
        var ds = new PretrainingDataset(corpus, DocumentSplit.All(corpus).Train, options);
        Console.WriteLine($"index: {ds.DocumentCount:N0} documents, {ds.SentenceCount:N0} sentences, {ds.TokenCount:N0} tokens " +
                          $"({(double)ds.TokenCount / ds.SentenceCount:F1} tokens/sentence, {(double)ds.SentenceCount / ds.DocumentCount:F1} sentences/document), built in {sw.Elapsed.TotalMilliseconds:F0} ms");

        // Shares over one copy.
        var items = new PretrainingItem[1024];
        int count = ds.PlanCopy(0, ref items);
        long random = 0, forced = 0, forcedLast = 0, tokens = 0, padded = 0;
        for (int i = 0; i < count; i++)
        {
            random += items[i].IsRandomNext ? 1 : 0;
            forced += items[i].ForcedRandom ? 1 : 0;
            // A forced chunk is either the document's last sentence left alone, or one sentence that
            // reached the target by itself (a short target or a long sentence).
            if (items[i].ForcedRandom && items[i].EndA == ds.SentencesOf(items[i].DocumentA).End) forcedLast++;
            tokens += items[i].SequenceLength;
        }
        var order = new int[count];
        PretrainingDataset.ShuffledOrder(options.Seed, 0, order);
        for (int s = 0; s + batchSize <= count; s += batchSize)
        {
            int longest = 0;
            for (int k = 0; k < batchSize; k++) longest = Math.Max(longest, items[order[s + k]].SequenceLength);
            padded += (long)batchSize * Math.Min(seq, (longest + 7) & ~7);
        }
        long fullBatches = count / batchSize;
        Console.WriteLine($"items per epoch: {count:N0}; NSP random share {100.0 * random / count:F2}% " +
                          $"(forced by single-segment chunks {100.0 * forced / count:F2}%: {100.0 * forcedLast / count:F2}% a document's last sentence alone, {100.0 * (forced - forcedLast) / count:F2}% a sentence reaching the target alone; coin-flip random among the rest {100.0 * (random - forced) / (count - forced):F2}%); " +
                          $"mean length {(double)tokens / count:F1}; real tokens {100.0 * tokens / ((double)count * seq):F1}% of a {seq}-padded batch, " +
                          $"dynamic padding keeps {100.0 * padded / (fullBatches * batchSize * (double)seq):F1}% of the positions");

        // One epoch on this thread: plan + shuffle + write every item into batches.
        var writer = new BatchWriter(ds);
        var batch = new BertBatch(batchSize, seq, options.MaxPredictionsPerSeq);
        var batchItems = new PretrainingItem[batchSize];
        var planMs = new List<double>();
        var epochMs = new List<double>();
        for (int rep = 0; rep <= reps; rep++)
        {
            long epoch = rep; // dynamic masking: a new copy each rep
            sw.Restart();
            int n = ds.PlanCopy(options.CopyForEpoch(epoch), ref items);
            if (order.Length < n) order = new int[n];
            PretrainingDataset.ShuffledOrder(options.Seed, epoch, order.AsSpan(0, n));
            double plan = sw.Elapsed.TotalMilliseconds;
            for (int s = 0; s < n; s += batchSize)
            {
                int m = Math.Min(batchSize, n - s);
                for (int k = 0; k < m; k++) batchItems[k] = items[order[s + k]];
                writer.Fill(batch, batchItems.AsSpan(0, m), options.CopyForEpoch(epoch), dynamicPadding: false);
            }
            double total = sw.Elapsed.TotalMilliseconds;
            if (rep == 0) continue; // warm-up (JIT, first touch)
            planMs.Add(plan);
            epochMs.Add(total);
            Console.WriteLine($"  epoch {epoch}: {n:N0} items, plan+shuffle {plan:F0} ms, total {total:F0} ms ({1e3 * total / n:F2} us/item)");
        }
        double medEpoch = Median(epochMs), medPlan = Median(planMs);
        Console.WriteLine($"one epoch at length {seq}, one thread: median {medEpoch / 1e3:F2} s over {reps} epochs " +
                          $"(plan+shuffle {medPlan:F0} ms), {count / (medEpoch / 1e3):N0} items/s, {medEpoch * 1e3 / (count / (double)batchSize):F0} us per batch of {batchSize}");

        // The loader as the trainer sees it: time spent inside Next() while "training" 5 ms a step.
        using var loader = new PretrainingLoader(ds, batchSize);
        for (int i = 0; i < 20; i++) loader.Next(); // warm-up
        var waits = new List<double>();
        for (int i = 0; i < 400; i++)
        {
            var spin = Stopwatch.StartNew();
            while (spin.Elapsed.TotalMilliseconds < 5) { } // a stand-in training step
            sw.Restart();
            loader.Next();
            waits.Add(sw.Elapsed.TotalMilliseconds * 1e3);
        }
        waits.Sort();
        Console.WriteLine($"loader Next() with a 5 ms step: median {Median(waits):F1} us, 99th percentile {waits[(int)(waits.Count * 0.99)]:F1} us, max {waits[^1]:F1} us " +
                          $"= {Median(waits) / 50:F3}% of a 5 ms step");
        return 0;
    }

    /// <summary>For a corpus with IMDB's splits: the recommended pretraining split's item counts.</summary>
    private static void ReportSplits(ITokenizedCorpus corpus, int seq)
    {
        if (!corpus.SplitNames.Contains("test/pos") || !corpus.SplitNames.Contains("train/unsup")) return;
        var split = DocumentSplit.BySplitNames(corpus, ["train"], ["test"], 0.1, seed: 12345);
        var options = new PretrainingOptions { MaxSeqLength = seq, MaxPredictionsPerSeq = seq == 128 ? 20 : Math.Max(1, (int)Math.Round(seq * 0.15)) };
        var train = new PretrainingDataset(corpus, split.Train, options);
        var validation = new ValidationSet(new PretrainingDataset(corpus, split.Validation, options, "validation"));
        Console.WriteLine($"IMDB split (train = train/*, validation = 10% of test/*): {split.Train.Length:N0} training documents, " +
                          $"{train.ItemCount(0):N0} training items per epoch; {split.Validation.Length:N0} validation documents, {validation.Count:N0} validation items");
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
