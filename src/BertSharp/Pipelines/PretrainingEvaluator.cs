using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Pipelines;

/// <summary>
/// Validation MLM and NSP metrics of a model, on its run's own validation documents or on any corpus, with the
/// items made as pretraining makes them (the run's sequence length, masking and seed unless given):
/// <code>var metrics = new PretrainingEvaluator(PretrainedModel.Load("runs/sample")).EvaluateValidation();</code>
/// </summary>
public sealed class PretrainingEvaluator
{
    /// <param name="model">The model to evaluate.</param>
    /// <param name="seqLength">Sequence length of the items (default: the run's, else 128 or the position table).</param>
    /// <param name="seed">Seed of the items' pairs and masks (default: the run's, else 12345).</param>
    public PretrainingEvaluator(PretrainedModel model, int? seqLength = null, ulong? seed = null)
    {
        Model = model;
        var run = model.Run;
        int max = model.Config.MaxPositionEmbeddings;
        int seq = seqLength ?? run?.SeqLength ?? Math.Min(128, max);
        if (seq < PretrainingOptions.MinSeqLength || seq > max)
            throw new BertSharpException($"sequence length: {seq} must be between {PretrainingOptions.MinSeqLength} and the model's max_position_embeddings {max}",
                ErrorKind.Usage);
        Options = new PretrainingOptions
        {
            MaxSeqLength = seq,
            MaxPredictionsPerSeq = run?.MaxPredictions is int mp && seq == run.SeqLength ? mp : Math.Max(1, (int)Math.Ceiling(seq * 0.15)),
            MaskedLmProb = run?.MaskedLmProb ?? 0.15, Seed = seed ?? run?.Seed ?? 12345, MaxPositionEmbeddings = max,
            SpecialTokens = model.Vocabulary.SpecialIds,
        };
    }

    /// <summary>The model evaluated.</summary>
    public PretrainedModel Model { get; }
    /// <summary>How the evaluation items are made.</summary>
    public PretrainingOptions Options { get; }

    /// <summary>Metrics on the run's own validation documents (its tokenized <c>corpus/</c> and validation split).</summary>
    /// <param name="batchSize">Sequences per forward pass.</param>
    /// <param name="maxBatches">Evaluate at most this many batches (0: all).</param>
    /// <param name="cancel">Stops between batches.</param>
    public PretrainingMetrics EvaluateValidation(int batchSize = 32, int maxBatches = 0, CancellationToken cancel = default)
    {
        if (Model.Run is not { } run || Model.RunFolder is null)
            throw new BertSharpException($"{Model.Folder}: not inside a run folder, so it has no validation documents; evaluate it on a corpus", ErrorKind.Usage);
        using var store = TokenizedCorpusStore.Open(Path.Combine(Model.RunFolder, "corpus"));
        var split = DocumentSplit.ForPretraining(store, run.Corpus == "imdb", run.ValidationFraction, run.Seed);
        return Evaluate(store, split.Validation, batchSize, maxBatches, cancel);
    }

    /// <summary>Metrics on every document of <paramref name="corpus"/>, tokenized with the model's vocabulary and casing
    /// into a temporary store that is deleted afterwards.</summary>
    public PretrainingMetrics EvaluateCorpus(CorpusReader corpus, int batchSize = 32, int maxBatches = 0, CancellationToken cancel = default)
    {
        RemoveLeftovers();
        string temp = Path.Combine(Path.GetTempPath(), $"{TempPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}");
        try
        {
            string vocabFile = Path.Combine(temp, "vocab.txt");
            Directory.CreateDirectory(temp);
            Model.Vocabulary.Save(vocabFile);
            CorpusTokenizer.Build(corpus, Model.Vocabulary, vocabFile, Path.Combine(temp, "corpus"),
                new TokenizeOptions { LowerCase = Model.LowerCase }, null, cancel);
            using var store = TokenizedCorpusStore.Open(Path.Combine(temp, "corpus"));
            return Evaluate(store, Enumerable.Range(0, store.DocumentCount).ToArray(), batchSize, maxBatches, cancel);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Temporary evaluation stores are <c>TEMP/bertsharp-eval-PID-ID</c>.</summary>
    public const string TempPrefix = "bertsharp-eval-";

    /// <summary>Deletes the temporary stores that killed evaluations left behind (their process no longer runs).</summary>
    public static void RemoveLeftovers()
    {
        foreach (var d in Directory.GetDirectories(Path.GetTempPath(), TempPrefix + "*"))
        {
            var parts = Path.GetFileName(d)[TempPrefix.Length..].Split('-');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int pid) || ProcessStatus.IsRunning(pid)) continue;
            try { Directory.Delete(d, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Metrics on <paramref name="documents"/> of a tokenized corpus (copy 0 of their items, as validation uses).</summary>
    public PretrainingMetrics Evaluate(ITokenizedCorpus corpus, int[] documents, int batchSize = 32, int maxBatches = 0, CancellationToken cancel = default)
    {
        if (batchSize < 1) throw new BertSharpException($"batch size: must be at least 1, got {batchSize}", ErrorKind.Usage);
        if (maxBatches < 0) throw new BertSharpException($"max batches: must be 0 (all) or more, got {maxBatches}", ErrorKind.Usage);
        var set = new ValidationSet(new PretrainingDataset(corpus, documents, Options, "evaluation"));
        int batches = set.BatchCount(batchSize);
        if (maxBatches > 0) batches = Math.Min(batches, maxBatches);
        var net = new BertForPreTraining(Model.Parameters);
        var pb = new BertBatch(batchSize, Options.MaxSeqLength, Options.MaxPredictionsPerSeq);
        var sum = new TaskMetrics();
        long randomNext = 0;
        for (int i = 0; i < batches; i++)
        {
            cancel.ThrowIfCancellationRequested();
            set.Fill(pb, i);
            sum.Add(net.Forward(pb, DropoutContext.Off));
            for (int k = 0; k < pb.BatchSize; k++) randomNext += pb.NextSentenceLabels[k];
        }
        static double Ratio(double a, long n) => n > 0 ? a / n : double.NaN;
        long pairs = sum.NspCount;
        return new PretrainingMetrics(documents.Length, pairs, sum.MlmCount, Ratio(sum.MlmLossSum, sum.MlmCount), Ratio(sum.MlmCorrect, sum.MlmCount),
            Ratio(sum.NspLossSum, pairs), Ratio(sum.NspCorrect, pairs), Ratio(Math.Max(randomNext, pairs - randomNext), pairs));
    }
}
