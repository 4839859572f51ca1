using System.CommandLine;
using BertSharp.Runs;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary>The fine-tuning recipe's options (data, output, epochs, rate, length, ...), shared by <c>finetune</c> and
/// <c>distill</c>: they fill a <see cref="FineTuningRequest"/> but for its model; the rendering of the result too.</summary>
internal sealed class FineTuningOptions
{
    private readonly Option<string?> _imdb = new("--imdb-archive") { Description = "aclImdb_v1.tar.gz or an aclImdb folder (the default data; default path data/aclImdb or data/aclImdb_v1.tar.gz)" };
    private readonly Option<string?> _data = new("--data") { Description = "Labelled data instead of IMDB: a folder with one subfolder per label (optionally under train/ and test/), or .jsonl with text and label" };
    private readonly Option<string?> _evalData = new("--eval-data") { Description = "Evaluation data in the same form [default: the data's test split, else a held-out share]" };
    private readonly Option<double> _evalFraction = new("--eval-fraction") { Description = "Share held out for evaluation when the data has no test split", DefaultValueFactory = _ => 0.1 };
    private readonly Option<string> _outDir;
    private readonly Option<bool> _force = new("--force") { Description = "Replace --out if it exists" };
    private readonly Option<int> _epochs = new("--epochs") { Description = "Passes over the training texts (at least 1)", DefaultValueFactory = _ => 3 };
    private readonly Option<int> _batch = new("--batch-size") { Description = "Training texts per update", DefaultValueFactory = _ => 32 };
    private readonly Option<int> _evalBatch = new("--eval-batch-size") { Description = "Texts per evaluation batch", DefaultValueFactory = _ => 64 };
    private readonly Option<double> _lr = new("--lr") { Description = "Peak learning rate (linear warm-up, then linear decay to 0)", DefaultValueFactory = _ => 2e-5 };
    private readonly Option<double> _warmup = new("--warmup-ratio") { Description = "Share of the updates spent warming up, in [0, 1)", DefaultValueFactory = _ => 0.1 };
    private readonly Option<float> _weightDecay = new("--weight-decay") { Description = "AdamW weight decay (not applied to biases and LayerNorm)", DefaultValueFactory = _ => 0.01f };
    private readonly Option<float?> _dropout = new("--dropout") { Description = "Dropout of hidden states, attention weights and the pooled [CLS] vector [default: the model config's, 0.1 in BERT's presets]" };
    private readonly Option<int?> _maxLength = new("--max-length") { Description = "Tokens per review including [CLS] and [SEP], up to 512 [default: 512 or the model's limit; distill: the teacher's fine-tuning length]" };
    private readonly Option<int?> _headTokens = new("--head-tokens") { Description = "Tokens kept from the start of a long review; the rest from its end [default: 128/510 of the length]" };
    private readonly Option<int> _maxTrain = new("--max-train") { Description = "Use at most N training texts (label-balanced, seeded; 0 = all)", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _maxEval = new("--max-eval") { Description = "Use at most N evaluation texts (0 = all)", DefaultValueFactory = _ => 0 };
    private readonly Option<ulong> _seed = new("--seed") { Description = "Seed of the classifier's initialisation, the data's split, subsets and order, and dropout", DefaultValueFactory = _ => 42UL };
    private readonly Option<int> _logEvery = new("--log-every") { Description = "A progress line every N updates (0: only per epoch)", DefaultValueFactory = _ => 50 };
    private readonly Option<int?> _copyPositions = new("--copy-positions")
    {
        Description = "The model was pretrained at length N: positions N and beyond (never trained) start as copies of positions 0..N-1, "
            + "position i taking i mod N (Longformer's initialisation), for fine-tuning at a longer --max-length",
    };
    private readonly Option<bool> _groupByLength = new("--group-by-length") { Description = "Batch training texts of similar length (like HF's group_by_length): far less padding, so much faster at long --max-length" };
    private readonly Option<int> _threads = new("--threads") { Description = "Kernel threads (0: one per core)", DefaultValueFactory = _ => 0 };
    private readonly Option<bool> _resume = new("--resume") { Description = "Continue an interrupted run from --out's newest checkpoint (give the same options again)" };
    private readonly Option<int> _patience = new("--early-stopping") { Description = "Stop after N epochs without a better evaluation accuracy (0: never)", DefaultValueFactory = _ => 0 };
    private readonly Option<string> _reportTo = new("--report-to") { Description = "tensorboard: event files under --out's tensorboard/ (train/, validation/); none", DefaultValueFactory = _ => "tensorboard" };

    /// <summary>--json: the result as one JSON object.</summary>
    public Option<bool> Json { get; } = new("--json") { Description = "Print the result as one JSON object (snake_case keys) instead of a sentence" };

    /// <param name="outDescription">what --out holds for this command</param>
    public FineTuningOptions(string outDescription) =>
        _outDir = new Option<string>("--out") { Description = outDescription, Required = true };

    /// <summary>Adds every option to <paramref name="command"/>, in the help's order.</summary>
    public void AddTo(Command command)
    {
        Option[] all = [_imdb, _data, _evalData, _evalFraction, _outDir, _force, _epochs, _batch, _evalBatch, _lr, _warmup, _weightDecay, _dropout,
            _maxLength, _headTokens, _maxTrain, _maxEval, _seed, _logEvery, _groupByLength, _copyPositions, _threads, _resume, _patience, _reportTo, Json];
        foreach (var o in all) command.Options.Add(o);
    }

    /// <summary>Starts the process group: under mpirun MPI_COMM_WORLD, with the node's cores shared by its ranks unless --threads says otherwise.</summary>
    public Distributed.ICommunicator StartWorld(ParseResult parse)
    {
        int threadCount = parse.GetValue(_threads);
        if (threadCount < 0) throw new BertSharpException("--threads: must be 0 (one per core) or more", ErrorKind.Usage);
        return CliWorld.Start(threadCount);
    }

    /// <summary>--report-to, parsed.</summary>
    public ReportTo ReportTo(ParseResult parse) => ReportTargets.Parse(parse.GetValue(_reportTo));

    /// <summary>The request the recipe's options give (no model: the command adds it).</summary>
    public FineTuningRequest Request(ParseResult parse) => new()
    {
        OutputDir = parse.GetValue(_outDir)!, Force = parse.GetValue(_force), Resume = parse.GetValue(_resume),
        CopyPositions = parse.GetValue(_copyPositions), Dropout = parse.GetValue(_dropout),
        Data = parse.GetValue(_data), ImdbArchive = parse.GetValue(_imdb), EvalData = parse.GetValue(_evalData), EvalFraction = parse.GetValue(_evalFraction),
        MaxTrain = parse.GetValue(_maxTrain), MaxEval = parse.GetValue(_maxEval), MaxLength = parse.GetValue(_maxLength), HeadTokens = parse.GetValue(_headTokens),
        Epochs = parse.GetValue(_epochs), BatchSize = parse.GetValue(_batch), EvalBatchSize = parse.GetValue(_evalBatch), LearningRate = parse.GetValue(_lr),
        WarmupRatio = parse.GetValue(_warmup), WeightDecay = parse.GetValue(_weightDecay), Seed = parse.GetValue(_seed),
        GroupByLength = parse.GetValue(_groupByLength), EarlyStoppingPatience = parse.GetValue(_patience), LogEvery = parse.GetValue(_logEvery),
    };

    /// <summary>The command that continues this one after an interruption: the same words, with --resume.</summary>
    public static string ResumeCommand(ParseResult parse)
    {
        var words = parse.Tokens.Select(t => t.Value).ToList();
        if (!words.Contains("--resume")) words.Add("--resume");
        return "bertsharp " + string.Join(' ', words.Select(PretrainCommand.Quote));
    }

    /// <summary>Prints a fine-tuning (or distillation) result; returns the exit code.</summary>
    public static int Render(FineTuningResult r, bool json, string resumeCommand)
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
    internal sealed class StepHook(Action<long> hook) : ITrainerCallback
    {
        public void OnStep(in StepReport step) => hook(step.Step);
    }

    /// <summary>Progress lines straight to the console, in order.</summary>
    internal sealed class Lines(TextWriter to) : IProgress<string>
    {
        public void Report(string line) => to.WriteLine(line);
    }
}
