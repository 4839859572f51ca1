using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.IO;
using BertSharp.Pipelines;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp evaluate</c>: validation MLM loss/accuracy/perplexity and NSP loss/accuracy of a checkpoint (<see cref="PretrainingEvaluator"/>).</summary>
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
            if (batch < 1) throw new BertSharpException($"--batch-size: must be at least 1, got {batch}", ErrorKind.Usage);
            if (cap < 0) throw new BertSharpException($"--max-batches: must be 0 (all) or more, got {cap}", ErrorKind.Usage);
            var ckpt = PretrainedModel.Load(parse.GetValue(model)!).To(CliDevice.Current);
            int? seq = parse.GetValue(seqLength);
            if (seq is int s && (s < Data.PretrainingOptions.MinSeqLength || s > ckpt.Config.MaxPositionEmbeddings))
                throw new BertSharpException($"--seq-length: {s} must be between {Data.PretrainingOptions.MinSeqLength} and the model's max_position_embeddings {ckpt.Config.MaxPositionEmbeddings}", ErrorKind.Usage);
            var evaluator = new PretrainingEvaluator(ckpt, seq, parse.GetValue(seed));
            string? corpusPath = parse.GetValue(corpus);
            PretrainingMetrics m;
            string source;
            if (corpusPath is null)
            {
                if (ckpt.Run is null) throw new BertSharpException($"{ckpt.Folder}: not inside a run folder; give --corpus to evaluate on", ErrorKind.Usage);
                m = evaluator.EvaluateValidation(batch, cap, cancel);
                source = $"the run's validation documents ({m.Documents:N0})";
            }
            else
            {
                m = evaluator.EvaluateCorpus(TextCommandSupport.OpenCorpus(corpusPath, parse.GetValue(format)!), batch, cap, cancel);
                source = $"{corpusPath} ({m.Documents:N0} documents)";
            }
            Print(ckpt, m, source, evaluator.Options.MaxSeqLength, parse.GetValue(json));
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }

    private static void Print(PretrainedModel ckpt, PretrainingMetrics m, string source, int seq, bool json)
    {
        long step = ckpt.State?.Step ?? 0;
        var w = CliConsole.Out;
        if (json)
        {
            var j = new JsonObject
            {
                ["checkpoint"] = ckpt.Folder, ["step"] = step, ["data"] = source, ["sequences"] = m.Sequences, ["masked_tokens"] = m.MaskedTokens,
                ["mlm_loss"] = m.MlmLoss, ["mlm_accuracy"] = m.MlmAccuracy, ["mlm_perplexity"] = m.MlmPerplexity,
                ["nsp_loss"] = m.NspLoss, ["nsp_accuracy"] = m.NspAccuracy, ["nsp_majority_label_accuracy"] = m.NspMajorityAccuracy,
            };
            w.WriteLine(j.ToJsonString(CliJson.Indented));
            return;
        }
        w.WriteLine($"checkpoint: {ckpt.Folder} (step {step:N0})");
        w.WriteLine($"data: {source}: {m.Sequences:N0} sequences of {seq} tokens, {m.MaskedTokens:N0} masked tokens");
        w.WriteLine($"MLM accuracy {m.MlmAccuracy:P2}, loss {m.MlmLoss:F4}, perplexity {m.MlmPerplexity:F2} (uniform chance {1.0 / ckpt.Config.VocabSize:P2})");
        w.WriteLine($"NSP accuracy {m.NspAccuracy:P2}, loss {m.NspLoss:F4} (always the majority label: {m.NspMajorityAccuracy:P2})");
    }
}
