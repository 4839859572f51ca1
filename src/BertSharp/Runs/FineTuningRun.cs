using BertSharp.Files;
using System.Diagnostics;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.Distributed;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>
/// Fine-tuning a sequence classifier, start to end: the starting model (loaded, or random weights), the labelled
/// data (read, split, subsampled, tokenized head + tail), a classifier head in the flat parameter buffer, training
/// with the <see cref="FineTuner"/> (the one <see cref="Trainer"/>: evaluation each epoch, best epoch, checkpoints,
/// early stopping, resuming), then the model saved as a HuggingFace BertForSequenceClassification folder with
/// finetune_results.json beside it.
/// <code>
/// var result = new FineTuningRun(new FineTuningRequest { Model = "runs/sample", Data = "reviews.jsonl", OutputDir = "runs/cls" }).Run();
/// var classify = new ClassificationPipeline(PretrainedModel.Load(result.OutputDir));
/// </code>
/// Every problem with the request, the model or the data is a <see cref="BertSharpException"/> whose
/// <see cref="BertSharpException.Kind"/> says what is wrong.
/// </summary>
/// <param name="request">what to fine-tune, on what, and how</param>
public sealed class FineTuningRun(FineTuningRequest request)
{
    /// <summary>The summary written beside the model.</summary>
    public const string ResultsFile = "finetune_results.json";
    /// <summary>Where the run keeps its checkpoints, in the output folder.</summary>
    public const string CheckpointsFolder = PretrainedModel.CheckpointsFolder;
    /// <summary>Where IMDB is looked for when neither <see cref="FineTuningRequest.Data"/> nor <see cref="FineTuningRequest.ImdbArchive"/> is given.</summary>
    public static readonly IReadOnlyList<string> DefaultImdbPaths = ["data/aclImdb", "data/aclImdb_v1.tar.gz"];

    /// <summary>The request the run carries out.</summary>
    public FineTuningRequest Request { get; } = request;
    /// <summary>Progress lines: the data and model read, a training line every <see cref="FineTuningRequest.LogEvery"/> updates, one per epoch.</summary>
    public IProgress<string>? Progress { get; set; }
    /// <summary>Where the model trains (the CPU unless set).</summary>
    public Device Device { get; set; } = Device.Cpu;
    /// <summary>Told about the training (besides the run's own epoch records).</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; set; } = [];
    /// <summary>TensorBoard event files under the output folder's <c>tensorboard/</c> (the default), or none. Not part of
    /// the request a resume must repeat: it changes what is reported, not what is trained.</summary>
    public ReportTo ReportTo { get; set; } = ReportTo.TensorBoard;

    /// <summary>The ranks of a data-parallel run (<see cref="MpiLaunch.Detect"/>); every rank runs the same <see cref="Run"/>.
    /// Rank 0 alone writes (checkpoints, the model folder, the results) and reports <see cref="Progress"/>.</summary>
    public ICommunicator Communicator { get; set; } = SingleProcess.Instance;

    private bool Lead => Communicator.Rank == 0;

    private void Log(string line)
    {
        if (Lead) Progress?.Report(line);
    }

    /// <summary>Fine-tunes as requested. Cancelling stops after the current update with a checkpoint in the output
    /// folder (the result says <see cref="FineTuningResult.Interrupted"/>; no model is saved then).</summary>
    public FineTuningResult Run(CancellationToken cancel = default)
    {
        var q = Request;
        var total = Stopwatch.StartNew();
        string output = q.OutputDir;
        string checkpoints = Path.Combine(output, CheckpointsFolder);
        // Everything that can be refused is refused before anything is read, trained, deleted or written.
        CheckOptions(q);
        // The output-safety rule: never the model, the data or a folder around them (even with --force), never a device,
        // pipe or link; an existing non-empty folder only with --force (or --resume, which continues it).
        OutputPaths.Check(output, "--out", folder: true, q.Force || q.Resume, "--force", q.Model, q.VocabPath, q.Data, q.EvalData, q.ImdbArchive);
        string? resumeFrom = q.Resume
            ? Checkpoint.Latest(checkpoints) ?? throw new BertSharpException($"--resume: {output} holds no checkpoint to resume from")
            : null;
        // Data parallel: every rank has looked at the output folder before rank 0 locks and changes it.
        Communicator.Barrier();
        // One process at a time per output folder (rank 0 holds the lock for the whole job, the finish included).
        using var held = Lead ? BertSharpException.Guard(() => RunLock.Acquire(output), ErrorKind.BadInput, output) : null;
        if (q.Resume) CheckSameRequest(output, q);
        // A damaged trainer_state.json is the checkpoint's problem (exit 4, the field named), found before any work.
        long resumedStep = resumeFrom is null ? 0
            : BertSharpException.Guard(() => Checkpoint.LoadState(Path.Combine(resumeFrom, "trainer_state.json")), ErrorKind.BadCheckpoint, resumeFrom).Step;
        if (q.Resume && File.Exists(Path.Combine(output, ResultsFile)))
        {
            // Finished before (the results are written last): a no-op that keeps everything.
            Log($"{output}: already finished ({ResultsFile} is there); nothing to do");
            return Finished(output, resumeFrom!, total.Elapsed.TotalSeconds);
        }

        var (start, origin) = StartingModel();
        if (q.Dropout is float dp)
        {
            try { start.Config.SetDropout(dp); }
            catch (ArgumentException e) { throw Usage($"--dropout: {e.Message}"); }
        }
        int max = MaxLengthFor(q.MaxLength, start.Config);
        if (q.HeadTokens is int head && (head < 0 || head > max - 2))
            throw Usage($"--head-tokens: must be in [0, {max - 2}] for --max-length {max}, got {head}");

        // The data.
        var clock = Stopwatch.StartNew();
        string source = q.Data ?? q.ImdbArchive ?? DefaultImdb();
        Log($"reading {source} ...");
        var corpus = BadInput(() => q.Data is null ? LabelledCorpus.ReadImdb(source) : LabelledCorpus.Open(source));
        var train = corpus.Train;
        var eval = corpus.Test;
        if (q.EvalData is { } ev) eval = BadInput(() => LabelledCorpus.Open(ev, corpus.Labels)).Train;
        else if (eval.Count == 0)
        {
            (train, eval) = LabelledCorpus.HoldOut(train, q.EvalFraction, q.Seed);
            if (eval.Count == 0)
                throw Usage($"--eval-fraction {q.EvalFraction}: holds out none of the {train.Count} texts of {source}; give a larger share or --eval-data");
            if (train.Count == 0)
                throw Usage($"--eval-fraction {q.EvalFraction}: holds out all {eval.Count} texts of {source}, leaving none to train on; give a smaller share or --eval-data");
        }
        if (train.Count == 0) throw new BertSharpException($"{source}: no training texts");
        if (eval.Count == 0) throw new BertSharpException($"{q.EvalData ?? source}: no evaluation texts");
        train = LabelledCorpus.Subsample(train, q.MaxTrain, q.Seed);
        eval = LabelledCorpus.Subsample(eval, q.MaxEval, q.Seed + 7);
        double readSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var vocab = start.Vocabulary!;
        var trainEx = BadInput(() => ClassificationEncoder.EncodeAll(train, vocab, start.LowerCase, max, q.HeadTokens));
        var evalEx = ClassificationEncoder.EncodeAll(eval, vocab, start.LowerCase, max, q.HeadTokens);
        double tokenizeSeconds = clock.Elapsed.TotalSeconds;
        // The schedule counts updates in an int: more than that is no run (and would overflow), refused before any work.
        long updates = (long)((trainEx.Length + q.BatchSize - 1) / q.BatchSize) * q.Epochs;
        if (updates > int.MaxValue)
            throw Usage($"--epochs: {q.Epochs:N0} epochs of {trainEx.Length:N0} texts in batches of {q.BatchSize:N0} are {updates:N0} updates, "
                + $"more than a run can count ({int.MaxValue:N0}); give fewer epochs");
        double truncated = trainEx.Count(e => e.Truncated) / (double)Math.Max(1, trainEx.Length);
        Log($"{trainEx.Length:N0} training and {evalEx.Length:N0} evaluation texts, labels {string.Join("/", corpus.Labels)}, "
            + $"max length {max} ({truncated:P1} of training texts truncated head+tail), read {readSeconds:F1} s, tokenized {tokenizeSeconds:F1} s");
        // Only now, with every option and input checked, does a fresh run replace what an earlier one left (--force).
        if (Lead && resumeFrom is null)
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(output).ToList())
            {
                if (Path.GetFileName(entry) == RunLock.FileName) continue;
                if (Directory.Exists(entry) && !OutputPaths.IsSymbolicLink(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            AtomicFile.WriteAllText(Path.Combine(output, RequestFile), RequestJson(q));
        }

        // After the clean-up above (a fresh run starts new event files); a resume keeps the events up to its checkpoint.
        // In the output folder, so the finished model folder holds them beside its checkpoints.
        using var tensorBoard = Lead && ReportTo == ReportTo.TensorBoard ? new TensorBoardLogger(output, resumedStep) : null;

        // The model and the loop.
        var parameters = BadInput(() => start.Parameters.WithClassifier(corpus.Labels, q.Seed + 1));
        if (parameters.Device != Device) parameters = parameters.To(Device);
        var options = BadInput(() =>
        {
            var o = new FineTuneOptions
            {
                Epochs = q.Epochs, BatchSize = q.BatchSize, EvalBatchSize = q.EvalBatchSize, LearningRate = q.LearningRate,
                WarmupRatio = q.WarmupRatio, WeightDecay = q.WeightDecay, Seed = q.Seed, LogEvery = q.LogEvery, Log = Log,
                GroupByLength = q.GroupByLength, CheckpointDir = checkpoints, ResumeFrom = resumeFrom,
                EarlyStoppingPatience = q.EarlyStoppingPatience, Communicator = Communicator,
                // The event files first: a caller's callback that stops the process after a step finds that step written.
                Callbacks = tensorBoard is null ? Callbacks : [tensorBoard, .. Callbacks],
            };
            o.Validate();
            return o;
        });
        Log($"fine-tuning from {origin}: {start.Config.NumHiddenLayers} layers, hidden {start.Config.HiddenSize}, "
            + $"{FineTuner.TotalSteps(trainEx.Length, options)} updates of {options.BatchSize}, lr {options.LearningRate:G3}, {KernelParallel.ThreadCount} threads");
        var tuner = new FineTuner(new BertForSequenceClassification(parameters), vocab, max, options);
        clock.Restart();
        var history = BadInput(() => tuner.Train(trainEx, evalEx, cancel));
        double trainSeconds = clock.Elapsed.TotalSeconds;
        var report = tuner.Report!;
        int perEpoch = (trainEx.Length + options.BatchSize - 1) / options.BatchSize;
        int? bestEpoch = report.BestStep is long bs ? (int)(bs / perEpoch) : null;
        int headTokens = q.HeadTokens ?? HeadTailTruncation.DefaultHeadTokens(max);
        FineTuningResult Result() => new(output, origin, source, corpus.Labels, trainEx.Length, evalEx.Length, max, headTokens, truncated,
            history, report, bestEpoch, new FineTuningSeconds(readSeconds, tokenizeSeconds, trainSeconds, total.Elapsed.TotalSeconds));
        if (report.Interrupted || !Lead) return Result();

        // The finish: the model's files are written into the output folder beside its checkpoints (each file whole,
        // through a rename), then finetune_results.json, last: a run without it is not finished, and a resume redoes
        // the finish from the final checkpoint. The folder stays locked and keeps its checkpoints throughout.
        var folder = new ModelFolder { Parameters = parameters, Vocabulary = vocab, LowerCase = start.LowerCase };
        folder.SaveInto(output, FinishPoint);
        var result = Result();
        FinishPoint(ResultsFile);
        WriteResults(result, start.Config, options, q.CopyPositions);
        return result;
    }

    /// <summary>A test hook at each file operation of the finish: with BERTSHARP_TEST_PAUSE_FINISH=N the Nth one
    /// prints a line to standard error and waits to be killed (tools/safety/kill-test.sh).</summary>
    private static void FinishPoint(string file)
    {
        if (Environment.GetEnvironmentVariable("BERTSHARP_TEST_PAUSE_FINISH") is not { } n || !int.TryParse(n, out int at)) return;
        if (++_finishOperations != at) return;
        Console.Error.WriteLine($"paused at finish operation {at} (before writing {file})");
        Console.Error.Flush();
        Thread.Sleep(Timeout.Infinite);
    }

    private static int _finishOperations;

    /// <summary>The settings of a run that decide what it trains, beside its checkpoints: a resume must give the same.</summary>
    public const string RequestFile = "finetune_request.json";

    private static string RequestJson(FineTuningRequest q) => JsonSerializer.Serialize(new SortedDictionary<string, object?>
    {
        ["model"] = q.Model is null ? null : Path.GetFullPath(q.Model), ["random_init"] = q.RandomInit, ["preset"] = q.Preset,
        ["vocab"] = q.VocabPath is null ? null : Path.GetFullPath(q.VocabPath), ["cased"] = q.Cased, ["copy_positions"] = q.CopyPositions,
        ["dropout"] = q.Dropout, ["data"] = q.Data is null ? null : Path.GetFullPath(q.Data),
        ["imdb_archive"] = q.ImdbArchive is null ? null : Path.GetFullPath(q.ImdbArchive),
        ["eval_data"] = q.EvalData is null ? null : Path.GetFullPath(q.EvalData), ["eval_fraction"] = q.EvalFraction,
        ["max_train"] = q.MaxTrain, ["max_eval"] = q.MaxEval, ["max_length"] = q.MaxLength, ["head_tokens"] = q.HeadTokens,
        ["epochs"] = q.Epochs, ["batch_size"] = q.BatchSize, ["lr"] = q.LearningRate, ["warmup_ratio"] = q.WarmupRatio,
        ["weight_decay"] = q.WeightDecay, ["seed"] = q.Seed, ["group_by_length"] = q.GroupByLength,
        ["early_stopping"] = q.EarlyStoppingPatience,
    }, RequestJsonOptions) + "\n";

    private static readonly JsonSerializerOptions RequestJsonOptions = new()
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Refuses a resume whose settings differ from those the run started with (<see cref="ErrorKind.Conflict"/>,
    /// as pretrain refuses them), naming each option; a run of an older version without the record is not checked.</summary>
    private static void CheckSameRequest(string output, FineTuningRequest q)
    {
        string path = Path.Combine(output, RequestFile);
        if (!File.Exists(path)) return;
        var stored = BertSharpException.Guard(() => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) as System.Text.Json.Nodes.JsonObject,
            ErrorKind.BadCheckpoint, path) ?? throw new BertSharpException($"{path}: not a JSON object", ErrorKind.BadCheckpoint);
        var given = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(RequestJson(q))!;
        var differ = given.Where(kv => (stored[kv.Key]?.ToJsonString() ?? "null") != (kv.Value?.ToJsonString() ?? "null"))
            .Select(kv => $"--{kv.Key.Replace('_', '-')} {kv.Value?.ToJsonString() ?? "(not given)"} (the run has {stored[kv.Key]?.ToJsonString() ?? "none"})").ToList();
        if (differ.Count > 0)
            throw new BertSharpException($"--resume: {string.Join(", ", differ)} contradict {path}; give the same options, or a new --out", ErrorKind.Conflict);
    }

    /// <summary>The result of a resume of a finished run, from its finetune_results.json (nothing is read, trained or written).</summary>
    private static FineTuningResult Finished(string output, string checkpoint, double seconds)
    {
        string path = Path.Combine(output, ResultsFile);
        var o = BertSharpException.Guard(() => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject(), ErrorKind.BadCheckpoint, path);
        var history = BertSharpException.Guard(() => o["history"].Deserialize<List<EpochResult>>(ResultsJson), ErrorKind.BadCheckpoint, path) ?? [];
        var labels = BertSharpException.Guard(() => o["labels"].Deserialize<List<string>>(), ErrorKind.BadCheckpoint, path) ?? [];
        long step = history.Count > 0 ? history[^1].Step : 0;
        var report = new TrainingReport(step, step, step, false, false, checkpoint, null, null, null, null, 0);
        int Int(string key) => o[key] is { } v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<int>() : 0;
        return new FineTuningResult(output, o["origin"]?.ToString() ?? "", o["data"]?.ToString() ?? "", labels, Int("train_examples"), Int("eval_examples"),
            Int("max_length"), Int("head_tokens"), 0, history, report, o["best_epoch"] is { } b && b.GetValueKind() == JsonValueKind.Number ? b.GetValue<int>() : null,
            new FineTuningSeconds(0, 0, 0, seconds)) { AlreadyFinished = true };
    }

    /// <summary>The weights to start from, and where they came from in words.</summary>
    private (ModelFolder Start, string Origin) StartingModel()
    {
        var q = Request;
        if (q.Model is { } modelPath)
        {
            var model = PretrainedModel.Load(modelPath);
            var start = model.ToModelFolder();
            string origin = q.RandomInit ? $"random weights, architecture and vocabulary of {modelPath}" : modelPath;
            if (q.RandomInit) start.Parameters.Initialize(q.Seed);
            if (q.CopyPositions is int trained)
            {
                if (q.RandomInit) throw Usage("--copy-positions: not with --random-init (there are no trained positions to copy)");
                int copied;
                try { copied = start.Parameters.CopyPositionEmbeddings(trained); }
                catch (ArgumentException e) { throw Usage($"--copy-positions: {e.Message}"); }
                Log($"position embeddings: {copied} rows from {trained} on copied from positions 0-{trained - 1}");
                origin += $", positions from {trained} on copied from 0-{trained - 1}";
            }
            foreach (var note in model.Notes) Log($"note: {note}");
            return (start, origin);
        }
        if (q.RandomInit) throw Usage("--random-init needs a model (the first argument or --model: whose architecture to copy)");
        if (q.CopyPositions is not null) throw Usage("--copy-positions needs a pretrained model (the first argument or --model)");
        string vocabPath = q.VocabPath ?? throw Usage("without a model (the first argument or --model), give --vocab and --preset");
        var vocab = BadInput(() => Vocabulary.Load(vocabPath));
        var config = BadInput(() => BertConfig.FromPreset(q.Preset ?? "tiny", vocab.Count));
        var p = new BertParameters(config);
        p.Initialize(q.Seed);
        return (new ModelFolder { Parameters = p, Vocabulary = vocab, LowerCase = !q.Cased }, $"random weights, preset {q.Preset ?? "tiny"}");
    }

    /// <summary>Refuses option values out of range (<see cref="ErrorKind.Usage"/>, the option named): checked before
    /// anything is read or written.</summary>
    public static void CheckOptions(FineTuningRequest q)
    {
        if (q.Epochs < 1) throw Usage($"--epochs: must be at least 1, got {q.Epochs}");
        if (q.BatchSize < 1) throw Usage($"--batch-size: must be at least 1, got {q.BatchSize}");
        if (q.EvalBatchSize < 1) throw Usage($"--eval-batch-size: must be at least 1, got {q.EvalBatchSize}");
        if (!(q.LearningRate > 0 && double.IsFinite(q.LearningRate))) throw Usage($"--lr: must be positive, got {q.LearningRate}");
        if (!(q.WarmupRatio >= 0 && q.WarmupRatio < 1)) throw Usage($"--warmup-ratio: must be in [0, 1), got {q.WarmupRatio}");
        if (!(q.WeightDecay >= 0 && float.IsFinite(q.WeightDecay))) throw Usage($"--weight-decay: must be 0 or more, got {q.WeightDecay}");
        if (!(q.EvalFraction > 0 && q.EvalFraction < 1)) throw Usage($"--eval-fraction: must be between 0 and 1, got {q.EvalFraction}");
        if (q.MaxTrain < 0) throw Usage($"--max-train: must be 0 (all) or more, got {q.MaxTrain}");
        if (q.MaxEval < 0) throw Usage($"--max-eval: must be 0 (all) or more, got {q.MaxEval}");
        if (q.LogEvery < 0) throw Usage($"--log-every: must be 0 (only per epoch) or more, got {q.LogEvery}");
        if (q.EarlyStoppingPatience < 0) throw Usage($"--early-stopping: must be 0 (never) or more, got {q.EarlyStoppingPatience}");
        if (q.MaxLength is int m && m < 3) throw Usage($"--max-length: must be at least 3, got {m}");
    }

    /// <summary>Tokens per input: <paramref name="requested"/>, else 512 or the model's position table, whichever is smaller;
    /// <see cref="ErrorKind.Usage"/> outside [3, max_position_embeddings].</summary>
    public static int MaxLengthFor(int? requested, BertConfig config)
    {
        int max = requested ?? Math.Min(512, config.MaxPositionEmbeddings);
        if (max < 3 || max > config.MaxPositionEmbeddings)
            throw Usage($"--max-length: must be in [3, {config.MaxPositionEmbeddings}] for this model (max_position_embeddings), got {max}");
        return max;
    }

    /// <summary>The IMDB archive or folder in data/ (<see cref="DefaultImdbPaths"/>); <see cref="ErrorKind.BadInput"/> when there is none.</summary>
    public static string DefaultImdb()
    {
        foreach (var p in DefaultImdbPaths)
            if (Directory.Exists(p) || File.Exists(p)) return p;
        throw new BertSharpException("no IMDB data: pass --imdb-archive PATH (aclImdb_v1.tar.gz) or --data, or run `bertsharp data imdb --out data` first");
    }

    private static void WriteResults(FineTuningResult r, BertConfig config, FineTuneOptions o, int? copyPositions)
    {
        var t = r.Training;
        var summary = new
        {
            origin = r.Origin, data = r.DataSource, labels = r.Labels, train_examples = r.TrainExamples, eval_examples = r.EvalExamples,
            max_length = r.MaxLength, head_tokens = r.HeadTokens, truncated_share = r.TruncatedShare,
            epochs = o.Epochs, batch_size = o.BatchSize, learning_rate = o.LearningRate, warmup_ratio = o.WarmupRatio,
            weight_decay = o.WeightDecay, group_by_length = o.GroupByLength, copy_positions = copyPositions, seed = o.Seed, threads = KernelParallel.ThreadCount,
            config = new { num_hidden_layers = config.NumHiddenLayers, hidden_size = config.HiddenSize, num_attention_heads = config.NumAttentionHeads, vocab_size = config.VocabSize },
            history = r.History, final_eval_accuracy = r.FinalEvalAccuracy,
            best_epoch = r.BestEpoch, best_eval_accuracy = t.BestValue, best_checkpoint = t.BestCheckpoint, early_stopped = t.EarlyStopped,
            seconds = new { read = r.Seconds.Read, tokenize = r.Seconds.Tokenize, train_and_eval = r.Seconds.TrainAndEval, total = r.Seconds.Total },
        };
        AtomicFile.WriteAllText(r.ResultsPath, JsonSerializer.Serialize(summary, ResultsJson) + "\n");
    }

    /// <summary>finetune_results.json: snake_case keys (as HuggingFace's files), a non-finite figure as "NaN".</summary>
    private static readonly JsonSerializerOptions ResultsJson = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static BertSharpException Usage(string message) => new(message, ErrorKind.Usage);

    /// <summary>Unreadable input (a missing or malformed file, a value the library refused) as <see cref="ErrorKind.BadInput"/>.</summary>
    private static T BadInput<T>(Func<T> work) => BertSharpException.Guard(work);

}
