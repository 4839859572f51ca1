using System.Diagnostics;
using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;

namespace BertSharp.Training;

public sealed class FineTuneOptions
{
    public int Epochs { get; init; } = 3;
    public int BatchSize { get; init; } = 32;
    public int EvalBatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 2e-5;
    /// <summary>Share of the updates spent warming up (BERT's fine-tuning recipe: 0.1).</summary>
    public double WarmupRatio { get; init; } = 0.1;
    public float WeightDecay { get; init; } = 0.01f;
    public double MaxGradNorm { get; init; } = 1.0;
    public ulong Seed { get; init; } = 42;
    public Action<string>? Log { get; init; }
    /// <summary>Log a training line every N updates (0: only per epoch).</summary>
    public int LogEvery { get; init; } = 50;

    /// <summary>Batch texts of similar length (like HF's <c>group_by_length</c>): the shuffled order is cut into
    /// groups of <see cref="LengthGroupBatches"/> batches, each group sorted by length, and the full batches are then
    /// visited in a seeded random order (HF keeps a group's batches in order). Padding (and its quadratic attention cost) mostly disappears.</summary>
    public bool GroupByLength { get; init; }

    /// <summary>Batches per length-sorted group (HF uses 50).</summary>
    public int LengthGroupBatches { get; init; } = 50;

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be >= 1, got {Epochs}");
        if (BatchSize < 1 || EvalBatchSize < 1) throw new ArgumentException($"batch sizes must be >= 1, got {BatchSize} and {EvalBatchSize}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (!(WarmupRatio >= 0 && WarmupRatio < 1)) throw new ArgumentException($"warm-up ratio must be in [0, 1), got {WarmupRatio}");
        if (WeightDecay < 0) throw new ArgumentException($"weight decay must be >= 0, got {WeightDecay}");
        if (LengthGroupBatches < 1) throw new ArgumentException($"length group must hold at least 1 batch, got {LengthGroupBatches}");
    }
}

public sealed record EpochResult(int Epoch, long Step, double TrainLoss, double TrainAccuracy, double EvalLoss, double EvalAccuracy,
    double TrainSeconds, double EvalSeconds);

public sealed record EvalResult(double Loss, double Accuracy, int Count, int[] Predictions);

/// <summary>
/// The fine-tuning loop: each epoch visits the training examples in a fresh seeded order, in batches padded to
/// their longest member (buffers are reserved once for the largest shape, so steps allocate nothing), one clipped
/// AdamW update per batch at a linear warm-up/decay rate; the evaluation set is scored after every epoch.
/// </summary>
public sealed class FineTuner
{
    private readonly BertForSequenceClassification _model;
    private readonly FineTuneOptions _o;
    private readonly ClassificationBatcher _batcher;
    private readonly int _maxLength;

    public AdamWOptimizer Optimizer { get; }
    public List<EpochResult> History { get; } = new();

    public FineTuner(BertForSequenceClassification model, Vocabulary vocab, int maxLength, FineTuneOptions options)
    {
        options.Validate();
        if (model.NumLabels == 0) throw new ArgumentException("fine-tuning needs a model with a classifier head");
        _model = model;
        _o = options;
        _maxLength = maxLength;
        _batcher = new ClassificationBatcher(vocab, Math.Max(options.BatchSize, options.EvalBatchSize), maxLength);
        Optimizer = new AdamWOptimizer(model) { WeightDecay = options.WeightDecay, MaxGradNorm = options.MaxGradNorm };
    }

    public static int TotalSteps(int examples, FineTuneOptions o) => (examples + o.BatchSize - 1) / o.BatchSize * o.Epochs;

    public List<EpochResult> Train(IReadOnlyList<LabelledExample> train, IReadOnlyList<LabelledExample> eval, CancellationToken cancel = default)
    {
        if (train.Count == 0) throw new ArgumentException("fine-tuning: no training examples");
        int total = TotalSteps(train.Count, _o);
        int warmup = (int)Math.Round(_o.WarmupRatio * total);
        var schedule = new LearningRateSchedule(ScheduleKind.Linear, _o.LearningRate, warmup, total);
        if (warmup >= total) schedule = schedule with { WarmupSteps = total - 1 };
        _model.Reserve(_batcher.MaxBatch, _maxLength);
        var order = new int[train.Count];
        long step = 0;
        for (int epoch = 1; epoch <= _o.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var batchStarts = EpochOrder(train, epoch, order);
            double lossSum = 0;
            long correct = 0, seen = 0;
            foreach (int start in batchStarts)
            {
                cancel.ThrowIfCancellationRequested();
                int count = Math.Min(_o.BatchSize, order.Length - start);
                _batcher.Fill(train, order.AsSpan(start, count), count);
                _model.Parameters.ZeroGradients();
                var dropout = new DropoutContext(true, _o.Seed, (ulong)step);
                var o = _model.Forward(_batcher.Batch, dropout);
                if (!double.IsFinite(o.Loss)) throw new TrainingDivergedException($"fine-tuning stopped at step {step + 1}: loss is {o.Loss}");
                _model.Backward();
                double lr = schedule.At(step + 1);
                double norm = Optimizer.Step(lr);
                if (!double.IsFinite(norm)) throw new TrainingDivergedException($"fine-tuning stopped at step {step + 1}: gradient norm is {norm}");
                step++;
                lossSum += o.LabelLossSum;
                correct += o.LabelCorrect;
                seen += o.LabelCount;
                if (_o.LogEvery > 0 && step % _o.LogEvery == 0)
                    _o.Log?.Invoke($"epoch {epoch} step {step}/{total} loss {lossSum / seen:F4} acc {(double)correct / seen:P1} |g| {norm:F3} lr {lr:E2} ({clock.Elapsed.TotalSeconds:F0} s)");
            }
            double trainSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var e = eval.Count > 0 ? Evaluate(eval) : new EvalResult(double.NaN, double.NaN, 0, []);
            var r = new EpochResult(epoch, step, lossSum / seen, (double)correct / seen, e.Loss, e.Accuracy, trainSeconds, clock.Elapsed.TotalSeconds);
            History.Add(r);
            _o.Log?.Invoke($"epoch {epoch}: train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:P2} | eval loss {r.EvalLoss:F4} acc {r.EvalAccuracy:P2} ({e.Count} examples) | {r.TrainSeconds:F0} s train, {r.EvalSeconds:F0} s eval");
        }
        return History;
    }

    /// <summary>
    /// Fills <paramref name="order"/> with epoch <paramref name="epoch"/>'s seeded permutation of the training texts
    /// and returns where each batch starts in it, in the order the batches are visited. Without length grouping the
    /// batches are consecutive slices; with it, each group of batches is sorted longest first (ties by shuffled
    /// position) and the batch order is shuffled again, so long and short batches are spread over the epoch.
    /// </summary>
    internal int[] EpochOrder(IReadOnlyList<LabelledExample> train, int epoch, int[] order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var rng = new SplitMix64(_o.Seed ^ (0x9E3779B97F4A7C15UL * (ulong)epoch));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        int batches = (order.Length + _o.BatchSize - 1) / _o.BatchSize;
        var starts = new int[batches];
        for (int k = 0; k < batches; k++) starts[k] = k * _o.BatchSize;
        if (!_o.GroupByLength) return starts;

        int group = _o.LengthGroupBatches * _o.BatchSize;
        var keys = new long[Math.Min(group, order.Length)];
        for (int g = 0; g < order.Length; g += group)
            SortLongestFirst(train, order.AsSpan(g, Math.Min(group, order.Length - g)), keys);
        // Only whole batches move, so the final short batch stays the one at the end of the order.
        int full = order.Length / _o.BatchSize;
        for (int i = full - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (starts[i], starts[j]) = (starts[j], starts[i]);
        }
        return starts;
    }

    /// <summary>Sorts texts (indices into <paramref name="examples"/>) longest first, ties in their current order:
    /// the key is a total order, so the result is deterministic. <paramref name="keys"/>: scratch, at least as long.</summary>
    private static void SortLongestFirst(IReadOnlyList<LabelledExample> examples, Span<int> texts, long[] keys)
    {
        for (int i = 0; i < texts.Length; i++) keys[i] = ((long)(int.MaxValue - examples[texts[i]].Tokens.Length) << 32) | (uint)i;
        keys.AsSpan(0, texts.Length).Sort(texts);
    }

    /// <summary>Loss and accuracy over <paramref name="examples"/> (dropout off) and each example's predicted label.</summary>
    public EvalResult Evaluate(IReadOnlyList<LabelledExample> examples)
    {
        _model.Reserve(_batcher.MaxBatch, _maxLength);
        var predictions = new int[examples.Count];
        double lossSum = 0;
        long correct = 0, count = 0;
        int labels = _model.NumLabels;
        // Longest first, so batches hold texts of similar length and little padding (the scores do not depend
        // on what a text is batched with: padded keys get exactly zero attention).
        var byLength = new int[examples.Count];
        for (int i = 0; i < byLength.Length; i++) byLength[i] = i;
        SortLongestFirst(examples, byLength, new long[byLength.Length]);
        for (int start = 0; start < examples.Count; start += _o.EvalBatchSize)
        {
            int b = Math.Min(_o.EvalBatchSize, examples.Count - start);
            var index = byLength.AsSpan(start, b);
            _batcher.Fill(examples, index, b);
            var o = _model.Forward(_batcher.Batch, DropoutContext.Off);
            var logits = _model.Device.ToArray(_model.Logits);
            for (int i = 0; i < b; i++)
            {
                int best = 0;
                for (int k = 1; k < labels; k++) if (logits[i * labels + k] > logits[i * labels + best]) best = k;
                predictions[index[i]] = best;
            }
            lossSum += o.LabelLossSum;
            correct += o.LabelCorrect;
            count += o.LabelCount;
        }
        return new EvalResult(count > 0 ? lossSum / count : double.NaN, count > 0 ? (double)correct / count : double.NaN, (int)count, predictions);
    }
}
