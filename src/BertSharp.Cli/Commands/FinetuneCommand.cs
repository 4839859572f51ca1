using System.CommandLine;
using BertSharp.Runs;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp finetune</c>: BertForSequenceClassification on IMDB (default) or any labelled folder / JSON Lines.
/// The options become a <see cref="FineTuningRequest"/>, the library's <see cref="FineTuningRun"/> does the work, and this renders it.</summary>
public static class FinetuneCommand
{
    public static Command Create()
    {
        var modelArg = new Argument<string?>("model") { Description = "Pretrained run, checkpoint or HF folder to start from (none: --preset and --vocab, random weights)", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string?>("--model") { Description = "The model, when not given as the first argument" };
        var randomInit = new Option<bool>("--random-init") { Description = "Use the model's architecture and vocabulary but random weights (the from-scratch baseline)" };
        var preset = new Option<string?>("--preset") { Description = "Without a model: architecture preset (tiny, mini, small, medium, base) with --vocab" };
        var vocab = new Option<string?>("--vocab") { Description = "Without a model: vocab.txt" };
        var cased = new Option<bool>("--cased") { Description = "Without a model: cased tokenizer" };
        var imdb = new Option<string?>("--imdb-archive") { Description = "aclImdb_v1.tar.gz or an aclImdb folder (the default data; default path data/aclImdb or data/aclImdb_v1.tar.gz)" };
        var data = new Option<string?>("--data") { Description = "Labelled data instead of IMDB: a folder with one subfolder per label (optionally under train/ and test/), or .jsonl with text and label" };
        var evalData = new Option<string?>("--eval-data") { Description = "Evaluation data in the same form [default: the data's test split, else a held-out share]" };
        var evalFraction = new Option<double>("--eval-fraction") { Description = "Share held out for evaluation when the data has no test split", DefaultValueFactory = _ => 0.1 };
        var outDir = new Option<string>("--out") { Description = "Folder for the fine-tuned model (HF BertForSequenceClassification layout) and finetune_results.json", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training texts (at least 1)", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch-size") { Description = "Training texts per update", DefaultValueFactory = _ => 32 };
        var evalBatch = new Option<int>("--eval-batch-size") { Description = "Texts per evaluation batch", DefaultValueFactory = _ => 64 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (linear warm-up, then linear decay to 0)", DefaultValueFactory = _ => 2e-5 };
        var warmup = new Option<double>("--warmup-ratio") { Description = "Share of the updates spent warming up, in [0, 1)", DefaultValueFactory = _ => 0.1 };
        var weightDecay = new Option<float>("--weight-decay") { Description = "AdamW weight decay (not applied to biases and LayerNorm)", DefaultValueFactory = _ => 0.01f };
        var dropout = new Option<float?>("--dropout") { Description = "Dropout of hidden states, attention weights and the pooled [CLS] vector [default: the model config's, 0.1 in BERT's presets]" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per review including [CLS] and [SEP], up to 512 [default: 512 or the model's limit]" };
        var headTokens = new Option<int?>("--head-tokens") { Description = "Tokens kept from the start of a long review; the rest from its end [default: 128/510 of the length]" };
        var maxTrain = new Option<int>("--max-train") { Description = "Use at most N training texts (label-balanced, seeded; 0 = all)", DefaultValueFactory = _ => 0 };
        var maxEval = new Option<int>("--max-eval") { Description = "Use at most N evaluation texts (0 = all)", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the classifier's initialisation, the data's split, subsets and order, and dropout", DefaultValueFactory = _ => 42UL };
        var logEvery = new Option<int>("--log-every") { Description = "A progress line every N updates (0: only per epoch)", DefaultValueFactory = _ => 50 };
        var copyPositions = new Option<int?>("--copy-positions")
        {
            Description = "The model was pretrained at length N: positions N and beyond (never trained) start as copies of positions 0..N-1, "
                + "position i taking i mod N (Longformer's initialisation), for fine-tuning at a longer --max-length",
        };
        var groupByLength = new Option<bool>("--group-by-length") { Description = "Batch training texts of similar length (like HF's group_by_length): far less padding, so much faster at long --max-length" };
        var threads = new Option<int>("--threads") { Description = "Kernel threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "Continue an interrupted fine-tuning from --out's newest checkpoint (give the same options again)" };
        var patience = new Option<int>("--early-stopping") { Description = "Stop after N epochs without a better evaluation accuracy (0: never)", DefaultValueFactory = _ => 0 };
        var reportTo = new Option<string>("--report-to") { Description = "tensorboard: event files under --out's tensorboard/ (train/, validation/); none", DefaultValueFactory = _ => "tensorboard" };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (snake_case keys) instead of a sentence" };
        var command = new Command("finetune", "Fine-tune a sequence classifier (IMDB sentiment by default): AdamW, warm-up + linear decay, evaluation each epoch.")
        {
            modelArg, model, randomInit, preset, vocab, cased, imdb, data, evalData, evalFraction, outDir, force, epochs, batch, evalBatch, lr, warmup,
            weightDecay, dropout, maxLength, headTokens, maxTrain, maxEval, seed, logEvery, groupByLength, copyPositions, threads, resume, patience, reportTo, json,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var reportTarget = ReportTargets.Parse(parse.GetValue(reportTo));
            int threadCount = parse.GetValue(threads);
            if (threadCount < 0) throw new BertSharpException("--threads: must be 0 (one per core) or more", ErrorKind.Usage);
            // Under mpirun: MPI_COMM_WORLD, and the node's cores shared by its ranks unless --threads says otherwise.
            var world = CliWorld.Start(threadCount);
            var request = new FineTuningRequest
            {
                OutputDir = parse.GetValue(outDir)!, Force = parse.GetValue(force), Resume = parse.GetValue(resume),
                Model = CommandInputs.Model(parse.GetValue(modelArg), parse.GetValue(model), "--model", "finetune", required: false), RandomInit = parse.GetValue(randomInit), Preset = parse.GetValue(preset), VocabPath = parse.GetValue(vocab),
                Cased = parse.GetValue(cased), CopyPositions = parse.GetValue(copyPositions), Dropout = parse.GetValue(dropout),
                Data = parse.GetValue(data), ImdbArchive = parse.GetValue(imdb), EvalData = parse.GetValue(evalData), EvalFraction = parse.GetValue(evalFraction),
                MaxTrain = parse.GetValue(maxTrain), MaxEval = parse.GetValue(maxEval), MaxLength = parse.GetValue(maxLength), HeadTokens = parse.GetValue(headTokens),
                Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch), EvalBatchSize = parse.GetValue(evalBatch), LearningRate = parse.GetValue(lr),
                WarmupRatio = parse.GetValue(warmup), WeightDecay = parse.GetValue(weightDecay), Seed = parse.GetValue(seed),
                GroupByLength = parse.GetValue(groupByLength), EarlyStoppingPatience = parse.GetValue(patience), LogEvery = parse.GetValue(logEvery),
            };
            var run = new FineTuningRun(request) { Progress = new Lines(CliConsole.Err), Communicator = world, Device = CliDevice.Current, ReportTo = reportTarget };
            if (CliConsole.AfterStep is { } hook) run.Callbacks = [new StepHook(hook)];
            // The command that continues this one after an interruption: the same words, with --resume.
            var words = parse.Tokens.Select(t => t.Value).ToList();
            if (!words.Contains("--resume")) words.Add("--resume");
            string resumeCommand = "bertsharp " + string.Join(' ', words.Select(PretrainCommand.Quote));
            // Data parallel: rank 0 alone prints and writes; the others print nothing but errors.
            if (world.Rank != 0) return Task.FromResult(run.Run(cancel).Interrupted ? CliRunner.ExitInterrupted : CliRunner.ExitOk);
            return Task.FromResult(Render(run.Run(cancel), parse.GetValue(json), resumeCommand));
        });
        return command;
    }

    private static int Render(FineTuningResult r, bool json, string resumeCommand)
    {
        var o = CliConsole.Out;
        if (json)
        {
            o.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                interrupted = r.Interrupted, already_finished = r.AlreadyFinished, step = r.Step, total_steps = r.TotalSteps, output_dir = r.OutputDir,
                results_file = r.Interrupted ? null : r.ResultsPath, checkpoint = r.Training.FinalCheckpoint,
                resume_command = r.Interrupted ? resumeCommand : null,
                final_eval_accuracy = r.FinalEvalAccuracy, best_epoch = r.BestEpoch, epochs_done = r.History.Count,
                train_examples = r.TrainExamples, eval_examples = r.EvalExamples, labels = r.Labels, max_length = r.MaxLength,
                seconds = new { read = r.Seconds.Read, tokenize = r.Seconds.Tokenize, train_and_eval = r.Seconds.TrainAndEval, total = r.Seconds.Total },
            }, CliJson.Indented));
            return r.Interrupted ? CliRunner.ExitInterrupted : CliRunner.ExitOk;
        }
        if (r.Interrupted)
        {
            o.WriteLine($"interrupted at step {r.Step:N0} of {r.TotalSteps:N0}; checkpoint: {r.Training.FinalCheckpoint}");
            o.WriteLine($"resume with: {resumeCommand}");
            return CliRunner.ExitInterrupted;
        }
        if (r.AlreadyFinished)
        {
            o.WriteLine($"{r.OutputDir}: already finished (eval accuracy {r.FinalEvalAccuracy:P2}); nothing trained or written");
            return CliRunner.ExitOk;
        }
        o.WriteLine($"eval accuracy {r.FinalEvalAccuracy:P2} on {r.EvalExamples:N0} texts after {r.History[^1].Epoch} epoch(s); "
            + $"{r.Seconds.TrainAndEval:F0} s training+eval, {r.Seconds.Total:F0} s total; model in {r.OutputDir}");
        return CliRunner.ExitOk;
    }

    /// <summary>Calls the test hook after every update (CliConsole.AfterStep).</summary>
    private sealed class StepHook(Action<long> hook) : ITrainerCallback
    {
        public void OnStep(in StepReport step) => hook(step.Step);
    }

    /// <summary>Progress lines straight to the console, in order.</summary>
    private sealed class Lines(TextWriter to) : IProgress<string>
    {
        public void Report(string line) => to.WriteLine(line);
    }
}
