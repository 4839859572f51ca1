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
    /// <summary>Progress lines: the data and model read, a training line every <see cref="FineTuningRecipe.LogEvery"/> updates, one per epoch.</summary>
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

    /// <summary>Distillation's additions (the teacher, the student's start, soft targets), set by <see cref="DistillationRun"/>.</summary>
    internal DistillationPlan? Distillation { get; init; }

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
        // The output-safety rule: never the model, the data, a teacher or a folder around them (even with Force), never a
        // device, pipe or link; an existing non-empty folder only with Force (or Resume, which continues it).
        OutputPaths.Check(output, nameof(q.OutputDir), folder: true, q.Force || q.Resume, nameof(q.Force),
            [q.Model, q.VocabPath, q.Data, q.EvalData, q.ImdbArchive, .. Distillation?.Inputs ?? []]);
        string? resumeFrom = q.Resume
            ? Checkpoint.Latest(checkpoints) ?? throw Refused($"{nameof(q.Resume)}: {output} holds no checkpoint to resume from", ErrorKind.BadInput, nameof(q.Resume))
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

        var (start, origin) = Distillation is { } distill ? distill.StartingModel(Device, q.Seed, Log) : StartingModel();
        if (q.Dropout is float dp)
        {
            try { start.Config.SetDropout(dp); }
            catch (ArgumentException e) { throw Usage($"{nameof(q.Dropout)}: {e.Message}", nameof(q.Dropout)); }
        }
        int max = MaxLengthFor(q.MaxLength ?? Distillation?.TeacherMaxLength, start.Config);
        if (q.HeadTokens is int head && (head < 0 || head > max - 2))
            throw Usage($"{nameof(q.HeadTokens)}: must be in [0, {max - 2}] for {nameof(q.MaxLength)} {max}, got {head}", nameof(q.HeadTokens), nameof(q.MaxLength));

        // The data.
        var clock = Stopwatch.StartNew();
        string source = q.Data ?? q.ImdbArchive ?? DefaultImdb();
        Log($"reading {source} ...");
        var corpus = BadInput(() => q.Data is null ? LabelledCorpus.ReadImdb(source) : LabelledCorpus.Open(source));
        Distillation?.CheckLabels(corpus.Labels, source);
        var train = corpus.Train;
        var eval = corpus.Test;
        if (q.EvalData is { } ev) eval = BadInput(() => LabelledCorpus.Open(ev, corpus.Labels)).Train;
        else if (eval.Count == 0)
        {
            (train, eval) = LabelledCorpus.HoldOut(train, q.EvalFraction, q.Seed);
            if (eval.Count == 0)
                throw Usage($"{nameof(q.EvalFraction)} {q.EvalFraction}: holds out none of the {train.Count} texts of {source}; give a larger share or {nameof(q.EvalData)}",
                    nameof(q.EvalFraction), nameof(q.EvalData));
            if (train.Count == 0)
                throw Usage($"{nameof(q.EvalFraction)} {q.EvalFraction}: holds out all {eval.Count} texts of {source}, leaving none to train on; give a smaller share or {nameof(q.EvalData)}",
                    nameof(q.EvalFraction), nameof(q.EvalData));
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
            throw Usage($"{nameof(q.Epochs)}: {q.Epochs:N0} epochs of {trainEx.Length:N0} texts in batches of {q.BatchSize:N0} are {updates:N0} updates, "
                + $"more than a run can count ({int.MaxValue:N0}); give fewer epochs", nameof(q.Epochs));
        double truncated = trainEx.Count(e => e.Truncated) / (double)Math.Max(1, trainEx.Length);
        Log($"{trainEx.Length:N0} training and {evalEx.Length:N0} evaluation texts, labels {string.Join("/", corpus.Labels)}, "
            + $"max length {max} ({truncated:P1} of training texts truncated head+tail), read {readSeconds:F1} s, tokenized {tokenizeSeconds:F1} s");
        // Only now, with every option and input checked, does a fresh run replace what an earlier one left (Force).
        if (Lead && resumeFrom is null)
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(output).ToList())
            {
                // The lock stays, and so does a distillation's teacher-logit cache (its key decides whether it is reused).
                if (Path.GetFileName(entry) is RunLock.FileName or TeacherLogits.FileName) continue;
                if (Directory.Exists(entry) && !OutputPaths.IsSymbolicLink(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            AtomicFile.WriteAllText(Path.Combine(output, RequestFile), RequestJson(q));
        }
        if (Distillation is { } plan) trainEx = plan.Teach(trainEx, max, q.EvalBatchSize, output, Communicator, Log);

        // After the clean-up above (a fresh run starts new event files); a resume keeps the events up to its checkpoint.
        // In the output folder, so the finished model folder holds them beside its checkpoints.
        using var tensorBoard = Lead && ReportTo == ReportTo.TensorBoard ? new TensorBoardLogger(output, resumedStep) : null;

        // The model and the loop.
        var parameters = Distillation is { KeepsClassifier: true } ? start.Parameters : BadInput(() => start.Parameters.WithClassifier(corpus.Labels, q.Seed + 1));
        if (parameters.Device != Device) parameters = parameters.To(Device);
        Log($"fine-tuning from {origin}: {start.Config.NumHiddenLayers} layers, hidden {start.Config.HiddenSize}, "
            + $"{FineTuner.TotalSteps(trainEx.Length, q)} updates of {q.BatchSize}, lr {q.LearningRate:G3}, {KernelParallel.ThreadCount} threads");
        // The request is the recipe: the fine-tuner derives the trainer's options from it.
        var tuner = new FineTuner(new BertForSequenceClassification(parameters) { Distillation = Distillation?.Loss }, vocab, max, q)
        {
            CheckpointDir = checkpoints, ResumeFrom = resumeFrom, Log = Log, Communicator = Communicator,
            // The event files first: a caller's callback that stops the process after a step finds that step written.
            Callbacks = tensorBoard is null ? Callbacks : [tensorBoard, .. Callbacks],
        };
        clock.Restart();
        var history = BadInput(() => tuner.Train(trainEx, evalEx, cancel));
        double trainSeconds = clock.Elapsed.TotalSeconds;
        var report = tuner.Report!;
        int perEpoch = (trainEx.Length + q.BatchSize - 1) / q.BatchSize;
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
        WriteResults(result, start.Config, q, Distillation?.Results);
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

    /// <summary>What <see cref="RequestFile"/> holds: each setting's key there, the request property it records, and its
    /// value. The keys are those of the runs already on disk; <c>max_grad_norm</c> and <c>length_group_batches</c> are
    /// written only when they differ from the recipe's defaults (<see cref="OmittedAtDefault"/>), so a file written before
    /// they existed still matches.</summary>
    private IEnumerable<(string Key, string Property, object? Value)> RecordedSettings(FineTuningRequest q)
    {
        static string? Full(string? path) => path is null ? null : Path.GetFullPath(path);
        yield return ("model", nameof(q.Model), Full(q.Model));
        yield return ("random_init", nameof(q.RandomInit), q.RandomInit);
        yield return ("preset", nameof(q.Preset), q.Preset);
        yield return ("vocab", nameof(q.VocabPath), Full(q.VocabPath));
        yield return ("cased", nameof(q.Cased), q.Cased);
        yield return ("copy_positions", nameof(q.CopyPositions), q.CopyPositions);
        yield return ("dropout", nameof(q.Dropout), q.Dropout);
        yield return ("data", nameof(q.Data), Full(q.Data));
        yield return ("imdb_archive", nameof(q.ImdbArchive), Full(q.ImdbArchive));
        yield return ("eval_data", nameof(q.EvalData), Full(q.EvalData));
        yield return ("eval_fraction", nameof(q.EvalFraction), q.EvalFraction);
        yield return ("max_train", nameof(q.MaxTrain), q.MaxTrain);
        yield return ("max_eval", nameof(q.MaxEval), q.MaxEval);
        yield return ("max_length", nameof(q.MaxLength), q.MaxLength);
        yield return ("head_tokens", nameof(q.HeadTokens), q.HeadTokens);
        yield return ("epochs", nameof(q.Epochs), q.Epochs);
        yield return ("batch_size", nameof(q.BatchSize), q.BatchSize);
        yield return ("lr", nameof(q.LearningRate), q.LearningRate);
        yield return ("warmup_ratio", nameof(q.WarmupRatio), q.WarmupRatio);
        yield return ("weight_decay", nameof(q.WeightDecay), q.WeightDecay);
        yield return ("seed", nameof(q.Seed), q.Seed);
        yield return ("group_by_length", nameof(q.GroupByLength), q.GroupByLength);
        yield return ("early_stopping", nameof(q.EarlyStoppingPatience), q.EarlyStoppingPatience);
        yield return ("max_grad_norm", nameof(q.MaxGradNorm), q.MaxGradNorm);
        yield return ("length_group_batches", nameof(q.LengthGroupBatches), q.LengthGroupBatches);
        foreach (var entry in Distillation?.RecordedSettings ?? []) yield return entry;
    }

    /// <summary>The settings left out of <see cref="RequestFile"/> at their default (they were added later).</summary>
    private static readonly Dictionary<string, object> OmittedAtDefault = new()
    {
        ["max_grad_norm"] = new FineTuningRecipe().MaxGradNorm, ["length_group_batches"] = new FineTuningRecipe().LengthGroupBatches,
    };

    private string RequestJson(FineTuningRequest q) => JsonSerializer.Serialize(new SortedDictionary<string, object?>(RecordedSettings(q)
        .Where(s => !(OmittedAtDefault.TryGetValue(s.Key, out var d) && Equals(d, s.Value))).ToDictionary(s => s.Key, s => s.Value)), RequestJsonOptions) + "\n";

    private static readonly JsonSerializerOptions RequestJsonOptions = new()
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Refuses a resume whose settings differ from those the run started with (<see cref="ErrorKind.Conflict"/>,
    /// as pretrain refuses them), naming each option; a run of an older version without the record is not checked.</summary>
    private void CheckSameRequest(string output, FineTuningRequest q)
    {
        string path = Path.Combine(output, RequestFile);
        if (!File.Exists(path)) return;
        var stored = BertSharpException.Guard(() => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) as System.Text.Json.Nodes.JsonObject,
            ErrorKind.BadCheckpoint, path) ?? throw new BertSharpException($"{path}: not a JSON object", ErrorKind.BadCheckpoint);
        var given = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(RequestJson(q))!;
        var property = RecordedSettings(q).ToDictionary(s => s.Key, s => s.Property);
        // Every key of either side: a setting recorded only when not its default differs when one side left it out.
        var differ = given.Select(kv => kv.Key).Union(stored.Select(kv => kv.Key)).Where(property.ContainsKey)
            .Where(key => (stored[key]?.ToJsonString() ?? "null") != (given[key]?.ToJsonString() ?? "null")).ToList();
        if (differ.Count > 0)
            throw Refused($"{nameof(q.Resume)}: {string.Join(", ", differ.Select(key => $"{property[key]} {given[key]?.ToJsonString() ?? "(not given)"} (the run has {stored[key]?.ToJsonString() ?? "none"})"))} "
                + $"contradict {path}; give the same options, or a new {nameof(q.OutputDir)}", ErrorKind.Conflict, [nameof(q.Resume), nameof(q.OutputDir), .. differ.Select(key => property[key])]);
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
                if (q.RandomInit)
                    throw Usage($"{nameof(q.CopyPositions)}: not with {nameof(q.RandomInit)} (there are no trained positions to copy)", nameof(q.CopyPositions), nameof(q.RandomInit));
                int copied;
                try { copied = start.Parameters.CopyPositionEmbeddings(trained); }
                catch (ArgumentException e) { throw Usage($"{nameof(q.CopyPositions)}: {e.Message}", nameof(q.CopyPositions)); }
                Log($"position embeddings: {copied} rows from {trained} on copied from positions 0-{trained - 1}");
                origin += $", positions from {trained} on copied from 0-{trained - 1}";
            }
            foreach (var note in model.Notes) Log($"note: {note}");
            return (start, origin);
        }
        if (q.RandomInit) throw Usage($"{nameof(q.RandomInit)} needs a {nameof(q.Model)} (whose architecture to copy)", nameof(q.RandomInit), nameof(q.Model));
        if (q.CopyPositions is not null) throw Usage($"{nameof(q.CopyPositions)} needs a pretrained {nameof(q.Model)}", nameof(q.CopyPositions), nameof(q.Model));
        string vocabPath = q.VocabPath
            ?? throw Usage($"without a {nameof(q.Model)}, give {nameof(q.VocabPath)} and {nameof(q.Preset)}", nameof(q.Model), nameof(q.VocabPath), nameof(q.Preset));
        var vocab = BadInput(() => Vocabulary.Load(vocabPath));
        var config = BadInput(() => BertConfig.FromPreset(q.Preset ?? "tiny", vocab.Count));
        var p = new BertParameters(config);
        p.Initialize(q.Seed);
        return (new ModelFolder { Parameters = p, Vocabulary = vocab, LowerCase = !q.Cased }, $"random weights, preset {q.Preset ?? "tiny"}");
    }

    /// <summary>Refuses values out of range (<see cref="FineTuningRequest.Problems"/>: <see cref="ErrorKind.Usage"/>, the
    /// property named): checked before anything is read or written.</summary>
    public static void CheckOptions(FineTuningRequest q) => q.Validate();

    /// <summary>Tokens per input: <paramref name="requested"/>, else 512 or the model's position table, whichever is smaller;
    /// <see cref="ErrorKind.Usage"/> outside [3, max_position_embeddings].</summary>
    public static int MaxLengthFor(int? requested, BertConfig config)
    {
        int max = requested ?? Math.Min(512, config.MaxPositionEmbeddings);
        if (max < 3 || max > config.MaxPositionEmbeddings)
            throw Usage($"{nameof(FineTuningRequest.MaxLength)}: must be in [3, {config.MaxPositionEmbeddings}] for this model (max_position_embeddings), got {max}",
                nameof(FineTuningRequest.MaxLength));
        return max;
    }

    /// <summary>The IMDB archive or folder in data/ (<see cref="DefaultImdbPaths"/>); <see cref="ErrorKind.BadInput"/> when there is none.</summary>
    public static string DefaultImdb()
    {
        foreach (var p in DefaultImdbPaths)
            if (Directory.Exists(p) || File.Exists(p)) return p;
        throw new BertSharpException($"no IMDB data in data/: give {nameof(FineTuningRequest.ImdbArchive)} (aclImdb_v1.tar.gz or an aclImdb folder) "
            + $"or {nameof(FineTuningRequest.Data)}, or download IMDB into data/ first") { Properties = [nameof(FineTuningRequest.ImdbArchive), nameof(FineTuningRequest.Data)] };
    }

    private static void WriteResults(FineTuningResult r, BertConfig config, FineTuningRequest o, object? distillation)
    {
        var t = r.Training;
        var summary = new
        {
            origin = r.Origin, data = r.DataSource, labels = r.Labels, train_examples = r.TrainExamples, eval_examples = r.EvalExamples,
            max_length = r.MaxLength, head_tokens = r.HeadTokens, truncated_share = r.TruncatedShare,
            epochs = o.Epochs, batch_size = o.BatchSize, learning_rate = o.LearningRate, warmup_ratio = o.WarmupRatio,
            weight_decay = o.WeightDecay, group_by_length = o.GroupByLength, copy_positions = o.CopyPositions, seed = o.Seed, threads = KernelParallel.ThreadCount,
            config = new { num_hidden_layers = config.NumHiddenLayers, hidden_size = config.HiddenSize, num_attention_heads = config.NumAttentionHeads, vocab_size = config.VocabSize },
            history = r.History, final_eval_accuracy = r.FinalEvalAccuracy,
            best_epoch = r.BestEpoch, best_eval_accuracy = t.BestValue, best_checkpoint = t.BestCheckpoint, early_stopped = t.EarlyStopped,
            seconds = new { read = r.Seconds.Read, tokenize = r.Seconds.Tokenize, train_and_eval = r.Seconds.TrainAndEval, total = r.Seconds.Total },
        };
        var json = JsonSerializer.SerializeToNode(summary, ResultsJson)!.AsObject();
        if (distillation is not null) json["distillation"] = JsonSerializer.SerializeToNode(distillation, ResultsJson);
        AtomicFile.WriteAllText(r.ResultsPath, json.ToJsonString(ResultsJson) + "\n");
    }

    /// <summary>finetune_results.json: snake_case keys (as HuggingFace's files), a non-finite figure as "NaN".</summary>
    private static readonly JsonSerializerOptions ResultsJson = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>A <see cref="ErrorKind.Usage"/> error naming <paramref name="properties"/> of the request.</summary>
    private static BertSharpException Usage(string message, params string[] properties) => Refused(message, ErrorKind.Usage, properties);

    private static BertSharpException Refused(string message, ErrorKind kind, params string[] properties) => new(message, kind) { Properties = properties };

    /// <summary>Unreadable input (a missing or malformed file, a value the library refused) as <see cref="ErrorKind.BadInput"/>.</summary>
    private static T BadInput<T>(Func<T> work) => BertSharpException.Guard(work);

}
