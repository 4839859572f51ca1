using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using BertSharp.Training;
using static BertSharp.Cli.Commands.UseCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp finetune</c>: BertForSequenceClassification on IMDB (default) or any labelled folder / JSON Lines.</summary>
public static class FinetuneCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Pretrained checkpoint or HF folder to start from" };
        var randomInit = new Option<bool>("--random-init") { Description = "Use --model's architecture and vocabulary but random weights (the from-scratch baseline)" };
        var preset = new Option<string?>("--preset") { Description = "Without --model: architecture preset (tiny, mini, small, medium, base) with --vocab" };
        var vocab = new Option<string?>("--vocab") { Description = "Without --model: vocab.txt" };
        var cased = new Option<bool>("--cased") { Description = "Without --model: cased tokenizer" };
        var imdb = new Option<string?>("--imdb-archive") { Description = "aclImdb_v1.tar.gz or an aclImdb folder (the default data; default path data/aclImdb or data/aclImdb_v1.tar.gz)" };
        var data = new Option<string?>("--data") { Description = "Labelled data instead of IMDB: a folder with one subfolder per label (optionally under train/ and test/), or .jsonl with text and label" };
        var evalData = new Option<string?>("--eval-data") { Description = "Evaluation data in the same form (default: the data's test split, else a held-out share)" };
        var evalFraction = new Option<double>("--eval-fraction") { Description = "Share held out for evaluation when the data has no test split", DefaultValueFactory = _ => 0.1 };
        var outDir = new Option<string>("--out") { Description = "Folder for the fine-tuned model (HF BertForSequenceClassification layout) and finetune_results.json", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists" };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32 };
        var evalBatch = new Option<int>("--eval-batch-size") { DefaultValueFactory = _ => 64 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (linear warm-up, then linear decay to 0)", DefaultValueFactory = _ => 2e-5 };
        var warmup = new Option<double>("--warmup-ratio") { DefaultValueFactory = _ => 0.1 };
        var weightDecay = new Option<float>("--weight-decay") { DefaultValueFactory = _ => 0.01f };
        var dropout = new Option<float?>("--dropout") { Description = "Dropout of hidden states, attention weights and the pooled [CLS] vector (default: the model config's, 0.1 in BERT's presets)" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per review including [CLS] and [SEP], up to 512 (default: 512 or the model's limit)" };
        var headTokens = new Option<int?>("--head-tokens") { Description = "Tokens kept from the start of a long review; the rest from its end (default 128/510 of the length)" };
        var maxTrain = new Option<int>("--max-train") { Description = "Use at most N training texts (label-balanced, seeded; 0 = all)", DefaultValueFactory = _ => 0 };
        var maxEval = new Option<int>("--max-eval") { Description = "Use at most N evaluation texts (0 = all)", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 42UL };
        var logEvery = new Option<int>("--log-every") { DefaultValueFactory = _ => 50 };
        var copyPositions = new Option<int?>("--copy-positions")
        {
            Description = "The --model was pretrained at length N: positions N and beyond (never trained) start as copies of positions 0..N-1, "
                + "position i taking i mod N (Longformer's initialisation), for fine-tuning at a longer --max-length",
        };
        var groupByLength = new Option<bool>("--group-by-length") { Description = "Batch training texts of similar length (like HF's group_by_length): far less padding, so much faster at long --max-length" };
        var threads = new Option<int>("--threads") { Description = "Kernel threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "Continue an interrupted fine-tuning from --out's newest checkpoint (give the same options again)" };
        var patience = new Option<int>("--early-stopping") { Description = "Stop after N epochs without a better evaluation accuracy (0: never)", DefaultValueFactory = _ => 0 };
        var command = new Command("finetune", "Fine-tune a sequence classifier (IMDB sentiment by default): AdamW, warm-up + linear decay, evaluation each epoch.")
        {
            model, randomInit, preset, vocab, cased, imdb, data, evalData, evalFraction, outDir, force, epochs, batch, evalBatch, lr, warmup,
            weightDecay, dropout, maxLength, headTokens, maxTrain, maxEval, seed, logEvery, groupByLength, copyPositions, threads, resume, patience,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var total = Stopwatch.StartNew();
            if (parse.GetValue(threads) > 0) KernelParallel.ThreadCount = parse.GetValue(threads);
            string output = parse.GetValue(outDir)!;
            string checkpoints = Path.Combine(output, "checkpoints");
            string? resumeFrom = parse.GetValue(resume)
                ? BertSharp.IO.Checkpoint.Latest(checkpoints) ?? throw new UserException($"--resume: {output} holds no checkpoint to resume from")
                : null;
            if (resumeFrom is null && Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any() && !parse.GetValue(force))
                throw new UserException($"{output}: already exists and is not empty (use --force to replace it)");
            if (resumeFrom is null && Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
            ulong seedValue = parse.GetValue(seed);

            // The starting model.
            ModelFolder start;
            string origin;
            if (parse.GetValue(model) is { } modelPath)
            {
                start = Load(modelPath);
                origin = parse.GetValue(randomInit) ? $"random weights, architecture and vocabulary of {modelPath}" : modelPath;
                if (parse.GetValue(randomInit)) start.Parameters.Initialize(seedValue);
                if (parse.GetValue(copyPositions) is int trained)
                {
                    if (parse.GetValue(randomInit)) throw new UserException("--copy-positions: not with --random-init (there are no trained positions to copy)", CliRunner.ExitUsage);
                    int copied;
                    try { copied = start.Parameters.CopyPositionEmbeddings(trained); }
                    catch (ArgumentException e) { throw new UserException($"--copy-positions: {e.Message}", CliRunner.ExitUsage); }
                    CliConsole.Err.WriteLine($"position embeddings: {copied} rows from {trained} on copied from positions 0-{trained - 1}");
                    origin += $", positions from {trained} on copied from 0-{trained - 1}";
                }
                foreach (var note in start.Notes) CliConsole.Err.WriteLine($"note: {note}");
            }
            else
            {
                if (parse.GetValue(randomInit)) throw new UserException("--random-init needs --model (whose architecture to copy)", CliRunner.ExitUsage);
                if (parse.GetValue(copyPositions) is not null) throw new UserException("--copy-positions needs --model (a pretrained model)", CliRunner.ExitUsage);
                string vocabPath = parse.GetValue(vocab) ?? throw new UserException("without --model, give --vocab and --preset", CliRunner.ExitUsage);
                var v = Guard(() => Vocabulary.Load(vocabPath));
                var config = Guard(() => BertConfig.FromPreset(parse.GetValue(preset) ?? "tiny", v.Count));
                var p = new BertParameters(config);
                p.Initialize(seedValue);
                start = new ModelFolder { Parameters = p, Vocabulary = v, LowerCase = !parse.GetValue(cased) };
                origin = $"random weights, preset {parse.GetValue(preset) ?? "tiny"}";
            }
            if (parse.GetValue(dropout) is float dp)
            {
                try { start.Config.SetDropout(dp); }
                catch (ArgumentException e) { throw new UserException($"--dropout: {e.Message}", CliRunner.ExitUsage); }
            }
            int max = MaxLength(parse.GetValue(maxLength), start.Config);

            // The data.
            var clock = Stopwatch.StartNew();
            string source = parse.GetValue(data) ?? parse.GetValue(imdb) ?? DefaultImdb();
            CliConsole.Err.WriteLine($"reading {source} ...");
            var corpus = Guard(() => parse.GetValue(data) is null ? LabelledCorpus.ReadImdb(source) : LabelledCorpus.Open(source));
            var train = corpus.Train;
            var eval = corpus.Test;
            if (parse.GetValue(evalData) is { } ev) eval = Guard(() => LabelledCorpus.Open(ev, corpus.Labels)).Train;
            else if (eval.Count == 0) (train, eval) = LabelledCorpus.HoldOut(train, parse.GetValue(evalFraction), seedValue);
            train = LabelledCorpus.Subsample(train, parse.GetValue(maxTrain), seedValue);
            eval = LabelledCorpus.Subsample(eval, parse.GetValue(maxEval), seedValue + 7);
            double readSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var trainEx = Guard(() => ClassificationEncoder.EncodeAll(train, start.Vocabulary!, start.LowerCase, max, parse.GetValue(headTokens)));
            var evalEx = ClassificationEncoder.EncodeAll(eval, start.Vocabulary!, start.LowerCase, max, parse.GetValue(headTokens));
            double tokenizeSeconds = clock.Elapsed.TotalSeconds;
            double truncated = trainEx.Count(e => e.Truncated) / (double)Math.Max(1, trainEx.Length);
            CliConsole.Err.WriteLine($"{trainEx.Length:N0} training and {evalEx.Length:N0} evaluation texts, labels {string.Join("/", corpus.Labels)}, "
                + $"max length {max} ({truncated:P1} of training texts truncated head+tail), read {readSeconds:F1} s, tokenized {tokenizeSeconds:F1} s");

            // The model and the loop.
            var parameters = Guard(() => start.Parameters.WithClassifier(corpus.Labels, seedValue + 1));
            var net = new BertForSequenceClassification(parameters);
            var options = Guard(() =>
            {
                var o = new FineTuneOptions
                {
                    Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch), EvalBatchSize = parse.GetValue(evalBatch),
                    LearningRate = parse.GetValue(lr), WarmupRatio = parse.GetValue(warmup), WeightDecay = parse.GetValue(weightDecay),
                    Seed = seedValue, LogEvery = parse.GetValue(logEvery), Log = s => CliConsole.Err.WriteLine(s),
                    GroupByLength = parse.GetValue(groupByLength), CheckpointDir = checkpoints, ResumeFrom = resumeFrom,
                    EarlyStoppingPatience = parse.GetValue(patience),
                };
                o.Validate();
                return o;
            });
            CliConsole.Err.WriteLine($"fine-tuning from {origin}: {start.Config.NumHiddenLayers} layers, hidden {start.Config.HiddenSize}, "
                + $"{FineTuner.TotalSteps(trainEx.Length, options)} updates of {options.BatchSize}, lr {options.LearningRate:G3}, {KernelParallel.ThreadCount} threads");
            var tuner = new FineTuner(net, start.Vocabulary!, max, options);
            clock.Restart();
            var history = tuner.Train(trainEx, evalEx, cancel);
            double trainSeconds = clock.Elapsed.TotalSeconds;
            var report = tuner.Report!;
            if (report.Interrupted)
            {
                CliConsole.Out.WriteLine($"interrupted at step {report.Step:N0} of {report.TotalSteps:N0}; checkpoint: {report.FinalCheckpoint}");
                CliConsole.Out.WriteLine("resume with: the same finetune command and --resume");
                return Task.FromResult(CliRunner.ExitInterrupted);
            }

            // The model folder replaces --out; its checkpoints (for the best epoch and resuming) are carried over.
            string kept = output.TrimEnd('/', '\\') + ".checkpoints-" + Environment.ProcessId;
            if (Directory.Exists(checkpoints)) Directory.Move(checkpoints, kept);
            var result = new ModelFolder { Parameters = parameters, Vocabulary = start.Vocabulary, LowerCase = start.LowerCase };
            Guard(() => result.Save(output, overwrite: true));
            if (Directory.Exists(kept)) Directory.Move(kept, checkpoints);
            if (history.Count == 0) throw new UserException($"{output}: the run had already finished; nothing was trained");
            var summary = new
            {
                origin, data = source, labels = corpus.Labels, train_examples = trainEx.Length, eval_examples = evalEx.Length,
                max_length = max, head_tokens = parse.GetValue(headTokens) ?? HeadTailTruncation.DefaultHeadTokens(max), truncated_share = truncated,
                epochs = options.Epochs, batch_size = options.BatchSize, learning_rate = options.LearningRate, warmup_ratio = options.WarmupRatio,
                weight_decay = options.WeightDecay, group_by_length = options.GroupByLength, copy_positions = parse.GetValue(copyPositions), seed = seedValue, threads = KernelParallel.ThreadCount,
                config = new { start.Config.NumHiddenLayers, start.Config.HiddenSize, start.Config.NumAttentionHeads, start.Config.VocabSize },
                history, final_eval_accuracy = history[^1].EvalAccuracy,
                best_epoch = report.BestStep is long bs ? (int?)(bs / ((trainEx.Length + options.BatchSize - 1) / options.BatchSize)) : null, best_eval_accuracy = report.BestValue,
                best_checkpoint = report.BestCheckpoint, early_stopped = report.EarlyStopped,
                seconds = new { read = readSeconds, tokenize = tokenizeSeconds, train_and_eval = trainSeconds, total = total.Elapsed.TotalSeconds },
            };
            File.WriteAllText(Path.Combine(output, "finetune_results.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            CliConsole.Out.WriteLine($"eval accuracy {history[^1].EvalAccuracy:P2} on {evalEx.Length:N0} texts after {options.Epochs} epoch(s); "
                + $"{trainSeconds:F0} s training+eval, {total.Elapsed.TotalSeconds:F0} s total; model in {output}");
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }

    private static string DefaultImdb()
    {
        foreach (var p in new[] { "data/aclImdb", "data/aclImdb_v1.tar.gz" })
            if (Directory.Exists(p) || File.Exists(p)) return p;
        throw new UserException("no IMDB data: pass --imdb-archive PATH (aclImdb_v1.tar.gz) or --data, or run `bertsharp data imdb --out data` first");
    }
}
