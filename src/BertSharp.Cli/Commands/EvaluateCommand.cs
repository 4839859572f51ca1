using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Cli.Pretraining;
using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp evaluate</c>: validation MLM loss/accuracy/perplexity and NSP loss/accuracy of a checkpoint.</summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A run folder (its newest checkpoint) or a checkpoint folder" };
        var corpus = new Option<string?>("--corpus")
        {
            Description = "Evaluate on all documents of this corpus (same formats as pretrain) [default: the run's own validation documents]",
        };
        var format = TextCommandSupport.FormatOption();
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per batch", DefaultValueFactory = _ => 32 };
        var maxBatches = new Option<int>("--max-batches") { Description = "Evaluate at most this many batches (0: all)", DefaultValueFactory = _ => 0 };
        var seqLength = new Option<int?>("--seq-length") { Description = "Sequence length [default: the run's, else 128]" };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of the validation items' pairs and masks [default: the run's, else 12345]" };
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON" };
        var command = new Command("evaluate", "Validation MLM accuracy, loss and perplexity and NSP accuracy and loss of a checkpoint (dropout off, fixed masks).")
        {
            model, corpus, format, batchSize, maxBatches, seqLength, seed, json,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            int batch = parse.GetValue(batchSize), cap = parse.GetValue(maxBatches);
            if (batch < 1) throw new UserException($"--batch-size: must be at least 1, got {batch}", CliRunner.ExitUsage);
            if (cap < 0) throw new UserException($"--max-batches: must be 0 (all) or more, got {cap}", CliRunner.ExitUsage);
            var ckpt = CheckpointLoading.Load(parse.GetValue(model)!);
            var run = ckpt.Run;
            int seq = parse.GetValue(seqLength) ?? run?.SeqLength ?? Math.Min(128, ckpt.Config.MaxPositionEmbeddings);
            ulong dataSeed = parse.GetValue(seed) ?? run?.Seed ?? 12345;
            if (seq < PretrainingOptions.MinSeqLength || seq > ckpt.Config.MaxPositionEmbeddings)
                throw new UserException($"--seq-length: {seq} must be between {PretrainingOptions.MinSeqLength} and the model's max_position_embeddings {ckpt.Config.MaxPositionEmbeddings}", CliRunner.ExitUsage);
            var options = new PretrainingOptions
            {
                MaxSeqLength = seq, MaxPredictionsPerSeq = run?.MaxPredictions is int mp && seq == run.SeqLength ? mp : Math.Max(1, (int)Math.Ceiling(seq * 0.15)),
                MaskedLmProb = run?.MaskedLmProb ?? 0.15, Seed = dataSeed, MaxPositionEmbeddings = ckpt.Config.MaxPositionEmbeddings,
                SpecialTokens = ckpt.Vocabulary.SpecialIds,
            };

            string? corpusPath = parse.GetValue(corpus);
            string? temp = null;
            ITokenizedCorpus? store = null;
            int[] documents;
            string source;
            try
            {
                if (corpusPath is null)
                {
                    if (run is null || ckpt.RunFolder is null)
                        throw new UserException($"{ckpt.Folder}: not inside a run folder; give --corpus to evaluate on", CliRunner.ExitUsage);
                    string storeDir = Path.Combine(ckpt.RunFolder, "corpus");
                    var s = TextCommandSupport.Guard(() => TokenizedCorpusStore.Open(storeDir));
                    store = s;
                    var split = TextCommandSupport.Guard(() => DocumentSplit.ForPretraining(s, run.Corpus == "imdb", run.ValidationFraction, run.Seed));
                    documents = split.Validation;
                    source = $"the run's validation documents ({documents.Length:N0})";
                }
                else
                {
                    temp = Path.Combine(Path.GetTempPath(), "bertsharp-eval-" + Guid.NewGuid().ToString("N")[..12]);
                    var reader = TextCommandSupport.OpenCorpus(corpusPath, parse.GetValue(format)!);
                    string vocabFile = Path.Combine(temp, "vocab.txt");
                    ckpt.Vocabulary.Save(vocabFile);
                    TextCommandSupport.Guard(() => CorpusTokenizer.Build(reader, ckpt.Vocabulary, vocabFile, Path.Combine(temp, "corpus"),
                        new TokenizeOptions { LowerCase = ckpt.LowerCase }, null, cancel));
                    store = TextCommandSupport.Guard(() => TokenizedCorpusStore.Open(Path.Combine(temp, "corpus")));
                    documents = Enumerable.Range(0, store.DocumentCount).ToArray();
                    source = $"{corpusPath} ({documents.Length:N0} documents)";
                }
                var set = TextCommandSupport.Guard(() => new ValidationSet(new PretrainingDataset(store!, documents, options, "evaluation")));
                var net = new BertForPreTraining(ckpt.Parameters);
                var pb = new BertBatch(batch, seq, options.MaxPredictionsPerSeq);
                int batches = set.BatchCount(batch);
                if (cap > 0) batches = Math.Min(batches, cap);
                double mlm = 0, nsp = 0;
                long mlmCorrect = 0, mlmCount = 0, nspCorrect = 0, nspCount = 0, randomNext = 0;
                for (int i = 0; i < batches; i++)
                {
                    cancel.ThrowIfCancellationRequested();
                    set.Fill(pb, i);
                    var o = net.Forward(pb, DropoutContext.Off);
                    for (int k = 0; k < pb.BatchSize; k++) randomNext += pb.NextSentenceLabels[k];
                    mlm += o.MlmLossSum;
                    nsp += o.NspLossSum;
                    (mlmCorrect, mlmCount, nspCorrect, nspCount) = (mlmCorrect + o.MlmCorrect, mlmCount + o.MlmCount, nspCorrect + o.NspCorrect, nspCount + o.NspCount);
                }
                double mlmLoss = mlmCount > 0 ? mlm / mlmCount : double.NaN, nspLoss = nspCount > 0 ? nsp / nspCount : double.NaN;
                double mlmAcc = mlmCount > 0 ? (double)mlmCorrect / mlmCount : double.NaN, nspAcc = nspCount > 0 ? (double)nspCorrect / nspCount : double.NaN;
                long step = ckpt.State?.Step ?? 0;
                // Always answering the majority label: 50% only when the corpus gives as many random as true pairs.
                double nspMajority = nspCount > 0 ? Math.Max(randomNext, nspCount - randomNext) / (double)nspCount : double.NaN;
                if (parse.GetValue(json))
                {
                    var j = new JsonObject
                    {
                        ["checkpoint"] = ckpt.Folder, ["step"] = step, ["data"] = source, ["sequences"] = nspCount, ["masked_tokens"] = mlmCount,
                        ["mlm_loss"] = mlmLoss, ["mlm_accuracy"] = mlmAcc, ["mlm_perplexity"] = Math.Exp(mlmLoss),
                        ["nsp_loss"] = nspLoss, ["nsp_accuracy"] = nspAcc, ["nsp_majority_label_accuracy"] = nspMajority,
                    };
                    CliConsole.Out.WriteLine(j.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                }
                else
                {
                    var w = CliConsole.Out;
                    w.WriteLine($"checkpoint: {ckpt.Folder} (step {step:N0})");
                    w.WriteLine($"data: {source}: {nspCount:N0} sequences of {seq} tokens, {mlmCount:N0} masked tokens");
                    w.WriteLine($"MLM accuracy {mlmAcc:P2}, loss {mlmLoss:F4}, perplexity {Math.Exp(mlmLoss):F2} (uniform chance {1.0 / ckpt.Config.VocabSize:P2})");
                    w.WriteLine($"NSP accuracy {nspAcc:P2}, loss {nspLoss:F4} (always the majority label: {nspMajority:P2})");
                }
                return Task.FromResult(CliRunner.ExitOk);
            }
            finally
            {
                (store as IDisposable)?.Dispose();
                if (temp is not null && Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            }
        });
        return command;
    }
}
