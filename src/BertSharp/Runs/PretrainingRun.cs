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
/// A pretraining run in a run folder: every stage that is not done yet — vocabulary (vocab.txt), tokenized store
/// (corpus/), items (made on the fly from the split) — then training with the <see cref="Trainer"/>, with what is
/// needed to continue (run.json, checkpoints/) and to look at the run (metrics.jsonl, metrics.csv, curves.svg,
/// summary.md). Rerunning the same folder continues the run.
/// <code>
/// var run = PretrainingRun.Open(new PretrainingRequest { Corpus = "reviews.txt", Preset = "mini", Steps = 500 });
/// var result = run.Run();
/// </code>
/// </summary>
public sealed class PretrainingRun
{
    /// <summary>Where the run keeps its checkpoints.</summary>
    public const string CheckpointsFolder = PretrainedModel.CheckpointsFolder;

    private readonly bool _existing;
    private PretrainedModel? _init, _teacher;

    private PretrainingRun(string runDir, RunSettings settings, bool existing, PretrainedModel? init, PretrainedModel? teacher = null)
    {
        RunDir = runDir;
        Settings = settings;
        _existing = existing;
        _init = init;
        _teacher = teacher;
    }

    /// <summary>A run with these settings in <paramref name="runDir"/>: a new run if the folder has no run.json
    /// (settings with 0 steps, -1 warm-up or 0 intervals get their defaults once the data is known), else the
    /// existing run, whose run.json must hold the same settings (<see cref="ErrorKind.Conflict"/> otherwise).</summary>
    public PretrainingRun(string runDir, RunSettings settings) : this(runDir, settings, false, null)
    {
        string path = Path.Combine(runDir, RunSettings.FileName);
        if (File.Exists(path))
        {
            var stored = RunSettings.Load(path);
            if (stored.ToJson() != settings.ToJson())
                throw new BertSharpException($"{path}: the settings contradict this run; use another run folder", ErrorKind.Conflict);
            _existing = true;
        }
        PretrainingRequest.Validate(settings);
    }

    /// <summary>The bundled sample corpus: the library's own copy (<see cref="SampleCorpus.FilePath()"/>) unless set.</summary>
    public static string SamplePath { get => field ?? SampleCorpus.FilePath(); set; }

    /// <summary>The run folder.</summary>
    public string RunDir { get; }
    /// <summary>The settings (run.json) the run is driven by.</summary>
    public RunSettings Settings { get; }
    /// <summary>Worker threads for counting and tokenizing (0: one per core); results do not depend on it.</summary>
    public int Threads { get; set; }
    /// <summary>TensorBoard event files under <c>tensorboard/</c> (the default), or none.</summary>
    public ReportTo ReportTo { get; set; } = ReportTo.TensorBoard;
    /// <summary>Where the model trains (the CPU unless set).</summary>
    public Device Device { get; set; } = Device.Cpu;
    /// <summary>Log lines and progress of the stages.</summary>
    public IProgress<PretrainingProgress>? Progress { get; set; }
    /// <summary>Told about the training (besides the run folder's own metrics files).</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; set; } = [];
    /// <summary>The ranks of a data-parallel run (<see cref="MpiLaunch.Detect"/>); every rank runs the same
    /// <see cref="Run"/>. Rank 0 alone builds the stages and writes the run folder (the others wait, then read them)
    /// and reports <see cref="Progress"/>.</summary>
    public ICommunicator Communicator { get; set; } = SingleProcess.Instance;

    private bool Lead => Communicator.Rank == 0;

    /// <summary>
    /// The run a request describes: its folder (given, or runs/NAME), and its settings — a new run's from the
    /// options and defaults, an existing run's from its run.json, which the options given must agree with
    /// (<see cref="ErrorKind.Conflict"/>; only the evaluation and checkpoint intervals may change). A run.json as
    /// <see cref="PretrainingRequest.ConfigPath"/> repeats that run: its settings fill in what is not given.
    /// </summary>
    /// <param name="request">the options as given</param>
    public static PretrainingRun Open(PretrainingRequest request)
    {
        var q = request;
        q.CheckGivenValues();
        if (q.ConfigPath is not null && File.Exists(q.ConfigPath) && PretrainingRequest.IsRunSettingsFile(q.ConfigPath))
        {
            if (q.Preset is not null) throw new BertSharpException("Preset and ConfigPath: give one or the other", ErrorKind.Usage) { Properties = [nameof(PretrainingRequest.Preset), nameof(PretrainingRequest.ConfigPath)] };
            q = (q with { ConfigPath = null, RepeatOf = q.ConfigPath }).WithRunSettings(RunSettings.Load(q.ConfigPath));
        }
        string runDir = q.ResolveRunDir();
        string settingsPath = Path.Combine(runDir, RunSettings.FileName);
        bool existing = File.Exists(settingsPath);
        if (q.Resume && (!existing || Checkpoint.Latest(Path.Combine(runDir, CheckpointsFolder)) is null))
            throw new BertSharpException($"Resume: {runDir} holds no checkpoint to resume from", ErrorKind.BadInput) { Properties = [nameof(PretrainingRequest.Resume)] };
        PretrainedModel? init = null;
        if (q.InitFrom is not null)
        {
            if (q.Preset is not null || q.ConfigPath is not null || q.VocabSize is not null || q.Cased is not null)
                throw new BertSharpException("InitFrom: the model, vocabulary and casing come from the checkpoint; leave out Preset, ConfigPath, VocabSize and Cased", ErrorKind.Usage) { Properties = [nameof(PretrainingRequest.InitFrom), nameof(PretrainingRequest.Preset), nameof(PretrainingRequest.ConfigPath), nameof(PretrainingRequest.VocabSize), nameof(PretrainingRequest.Cased)] };
            init = PretrainedModel.Load(q.InitFrom);
        }
        var stored = existing ? RunSettings.Load(settingsPath) : null;
        // The teacher (pretraining distillation), loaded once: the one given, else an existing run's own.
        PretrainedModel? teacher = (q.Teacher ?? stored?.Teacher?.Path) is { } teacherPath ? LoadTeacher(teacherPath) : null;
        string? teacherSha256 = teacher?.Parameters.Sha256();
        RunSettings s;
        if (stored is not null)
        {
            s = stored;
            q.CheckAgainst(s, settingsPath, init, SamplePath, teacherSha256);
        }
        else
        {
            s = q.Resolve(init, SamplePath, teacher: teacher is null ? null : (teacher, teacherSha256!));
            PretrainingRequest.Validate(s);
        }
        var run = new PretrainingRun(runDir, s, existing, init, teacher);
        // Intervals given for an existing run are kept in its run.json (they may change between sessions).
        if (existing && (q.EvalEvery is not null || q.CheckpointEvery is not null)) run.IntervalsChanged = true;
        return run;
    }

    private bool IntervalsChanged { get; set; }

    private void Log(string stage, string message)
    {
        if (Lead) Progress?.Report(new PretrainingProgress(stage, message, null, false));
    }

    private PretrainedModel Init(string path) =>
        _init is { } c && (c.Folder == path || Path.GetFullPath(c.Folder) == Path.GetFullPath(path)) ? c
            : _init = PretrainedModel.Load(path);

    /// <summary>A teacher's model; a problem with it is said as the teacher's (<see cref="PretrainingRequest.Teacher"/>).</summary>
    private static PretrainedModel LoadTeacher(string path)
    {
        try { return PretrainedModel.Load(path); }
        catch (BertSharpException e)
        {
            throw new BertSharpException($"Teacher: {e.Message}", e.Kind, e) { Properties = [nameof(PretrainingRequest.Teacher), .. e.Properties] };
        }
    }

    /// <summary>The run's teacher (run.json's), loaded once; its weights must still be those the run started with.</summary>
    private PretrainedModel TeacherModel()
    {
        var t = Settings.Teacher!;
        if (_teacher is not null) return _teacher;
        var teacher = LoadTeacher(t.Path);
        if (teacher.Parameters.Sha256() != t.Sha256)
            throw new BertSharpException($"Teacher {t.Path}: other weights than the run's teacher had when it started (sha256 {t.Sha256}); "
                + "a run is taught by one teacher throughout", ErrorKind.Conflict) { Properties = [nameof(PretrainingRequest.Teacher)] };
        return _teacher = teacher;
    }

    /// <summary>Runs the stages not done yet and trains to the run's end (or until <paramref name="cancel"/>: then a
    /// checkpoint is written and the result says <see cref="PretrainingResult.Interrupted"/>).</summary>
    public PretrainingResult Run(CancellationToken cancel = default)
    {
        var s = Settings;
        string settingsPath = Path.Combine(RunDir, RunSettings.FileName);
        string checkpoints = Path.Combine(RunDir, CheckpointsFolder);
        var comm = Communicator;
        // Data parallel: every rank has read run.json (Open) before rank 0 writes anything; rank 0 alone builds the
        // vocabulary and the tokenized store, the others wait for it and then read them.
        comm.Barrier();
        // The output-safety rule, before anything is written: the run folder is not inside its inputs, no input is one of
        // the names the run writes, and those names hold nothing the run did not make.
        if (Lead) CheckRunFolder();
        // One process at a time per run folder (under mpirun, rank 0 holds the lock for the whole job).
        using var held = Lead ? BadInput(() => RunLock.Acquire(RunDir)) : null;
        string vocabPath = Path.Combine(RunDir, "vocab.txt");
        string storeDir = Path.Combine(RunDir, "corpus");
        string corpusPath;
        Vocabulary vocab;
        TokenizedCorpusManifest? m = null;
        if (Lead)
        {
            Directory.CreateDirectory(RunDir);
            corpusPath = ResolveCorpusPath(cancel);
            vocab = BuildVocabulary(corpusPath, vocabPath, cancel);
            m = BuildStore(corpusPath, vocab, vocabPath, storeDir, cancel);
        }
        else (corpusPath, vocab) = ("", null!);
        comm.Barrier();
        if (!Lead)
        {
            corpusPath = ResolveCorpusPath(cancel);
            vocab = BadInput(() => Vocabulary.Load(vocabPath));
        }

        // Stage 3: items (made on the fly by the loader; here the split and the epoch length).
        using var store = BadInput(() => TokenizedCorpusStore.Open(storeDir));
        var split = BadInput(() => DocumentSplit.ForPretraining(store, s.Corpus == "imdb", s.ValidationFraction, s.Seed));
        if (split.Validation.Length < 2)
            throw new BertSharpException($"{corpusPath}: too few documents to hold out a validation set ({split.Validation.Length} of {store.DocumentCount} at ValidationFraction {s.ValidationFraction})") { Properties = [nameof(PretrainingRequest.ValidationFraction)] };
        // A trained vocabulary sizes the model; a model from --init-from keeps its vocab_size (its vocab.txt may be
        // shorter, as HF allows): its weights are copied as they are laid out. A student with a teacher has the teacher's.
        if (s.InitFrom is null && s.Teacher is null) s.Model.VocabSize = vocab.Count;
        else if (vocab.Count > s.Model.VocabSize)
            throw new BertSharpException($"{vocabPath}: {vocab.Count} tokens but the model's vocab_size is {s.Model.VocabSize}", ErrorKind.Conflict);
        var itemOptions = ItemOptions(s, vocab);
        CorpusPretrainingData data;
        try { data = BadInput(() => new CorpusPretrainingData(store, split, itemOptions, s.BatchSize, maxValidationBatches: s.EvalBatches)); }
        catch (BertSharpException e) when (e.InnerException is ArgumentException { ParamName: "batchSize" } a)
        {
            throw new BertSharpException($"{corpusPath}: {a.Message.Replace($" (Parameter '{a.ParamName}')", "")}; use a smaller BatchSize or a larger corpus", ErrorKind.BadInput, a)
            { Properties = [nameof(PretrainingRequest.BatchSize)] };
        }
        using var disposeData = data;
        int batchesPerEpoch = data.BatchesPerEpoch(0);
        if (batchesPerEpoch < 1)
            throw new BertSharpException($"{corpusPath}: one epoch holds fewer items than one batch of {s.BatchSize}; use a smaller BatchSize or a larger corpus") { Properties = [nameof(PretrainingRequest.BatchSize)] };
        if (s.Steps <= 0)
        {
            // In double: a cast would saturate (--epochs 1e9 became 2.1 billion steps); more than an int is no run.
            double steps = Math.Ceiling((s.Epochs ?? 1.0) * batchesPerEpoch / s.GradAccum);
            if (steps > int.MaxValue)
                throw new BertSharpException($"Epochs: {s.Epochs} passes of {batchesPerEpoch:N0} batches are {steps:G4} updates, more than a run can count "
                    + $"({int.MaxValue:N0}); give fewer Epochs or Steps", ErrorKind.Usage) { Properties = [nameof(PretrainingRequest.Epochs), nameof(PretrainingRequest.Steps)] };
            s.Steps = Math.Max(1, (int)steps);
        }
        if (s.WarmupSteps < 0) s.WarmupSteps = Math.Min(s.Corpus == PretrainingRequest.SampleName ? 60 : 10_000, s.Steps / 10);
        if (s.EvalEvery <= 0) s.EvalEvery = Math.Max(1, s.Steps / 20);
        if (s.CheckpointEvery <= 0) s.CheckpointEvery = Math.Max(s.EvalEvery, Math.Min(1000, s.Steps / 4));
        if (Lead && (!_existing || IntervalsChanged)) s.Save(settingsPath);
        Log("items", $"items: {split.Train.Length:N0} training / {split.Validation.Length:N0} validation documents, "
            + $"{batchesPerEpoch:N0} batches of {s.BatchSize} x {s.SeqLength} per epoch, validation {data.ValidationBatchCount} batches");

        // Stage 4: training.
        string title = $"{Path.GetFileName(Path.GetFullPath(RunDir))}: {s.Preset ?? "custom"} BERT on "
            + (s.Corpus == PretrainingRequest.SampleName ? "the bundled sample" : s.Corpus == "imdb" ? "IMDB" : Path.GetFileName(Path.TrimEndingDirectorySeparator(s.Corpus)));
        var options = TrainerOptionsFor(s, vocab, checkpoints, batchesPerEpoch, comm);
        var trainer = CreateTrainer(data, options, checkpoints, settingsPath);
        var baselines = ChanceBaselines(data);
        // Rank 0 alone writes the metrics files and curves (its figures are those of the whole global batch).
        var log = Lead ? new MetricsLog(RunDir, trainer.State.Step) : null;
        var logger = log is null ? null : new MetricsLogger(log, title, baselines.MostFrequentToken, baselines.NspMajority);
        if (logger is not null) trainer.Callbacks.Add(logger);
        using var tensorBoard = Lead && ReportTo == ReportTo.TensorBoard ? new TensorBoardLogger(RunDir, trainer.State.Step) : null;
        if (tensorBoard is not null) trainer.Callbacks.Add(tensorBoard);
        trainer.Callbacks.AddRange(Callbacks);
        long parameterCount = trainer.Model.Parameters.Layout.ParameterCount;
        Log("model", $"model: {s.Preset ?? "custom config"} ({s.Model.NumHiddenLayers} layers, hidden {s.Model.HiddenSize}, "
            + $"{s.Model.NumAttentionHeads} heads, vocab {s.Model.VocabSize:N0}), {parameterCount:N0} parameters; {KernelParallel.ThreadCount} threads"
            + (comm.Size > 1 ? $" per rank x {comm.Size} ranks ({comm.Description}), {s.BatchSize / comm.Size}-{(s.BatchSize + comm.Size - 1) / comm.Size} rows of each batch per rank" : ""));

        bool finishedBefore = trainer.State.Step >= s.Steps;
        var report = trainer.Train(s.Steps, cancel);
        double wall = logger?.Elapsed ?? report.Seconds;
        var last = log?.Validation.LastOrDefault();
        var result = new PretrainingResult(RunDir, s, report, finishedBefore, report.FinalCheckpoint ?? trainer.LastCheckpoint!, last,
            baselines, vocab.Count, parameterCount, wall, title);
        if (!report.Interrupted && log is not null) RunSummary.Write(result, m!, log, KernelParallel.ThreadCount);
        return result;
    }

    /// <summary>How the items are cut and masked: from the resolved settings (run.json), with the vocabulary's special tokens.
    /// With <see cref="TrainerOptionsFor"/>, the one place the settings become options.</summary>
    private static PretrainingOptions ItemOptions(RunSettings s, Vocabulary vocab) => new()
    {
        MaxSeqLength = s.SeqLength, MaxPredictionsPerSeq = s.MaxPredictions, MaskedLmProb = s.MaskedLmProb,
        Seed = s.Seed, MaxPositionEmbeddings = s.Model.MaxPositionEmbeddings, SpecialTokens = vocab.SpecialIds,
    };

    /// <summary>How the trainer trains: from the resolved settings (run.json, its steps and intervals filled in).</summary>
    private static TrainerOptions TrainerOptionsFor(RunSettings s, Vocabulary vocab, string checkpoints, int batchesPerEpoch, ICommunicator comm)
    {
        // DataPosition counts items (-1 before the first batch); an epoch holds about batchesPerEpoch x batch size of them.
        double itemsPerEpoch = Math.Max(1, (double)batchesPerEpoch * s.BatchSize);
        return new TrainerOptions
        {
            Schedule = new LearningRateSchedule(LearningRateSchedule.ParseKind(s.Schedule), s.LearningRate, s.WarmupSteps, s.Steps),
            GradientAccumulationSteps = s.GradAccum, WeightDecay = s.WeightDecay, Seed = s.Seed,
            OutputDir = checkpoints, Vocab = vocab.Tokens, KeepLast = s.KeepCheckpoints,
            EvalEvery = s.EvalEvery, EvaluateAtStart = true, SaveEvery = s.CheckpointEvery,
            Best = BestModelCriterion.LowestLoss,
            EpochOf = p => p.Epoch + Math.Max(0, p.Index) / itemsPerEpoch,
            WriteCheckpointFiles = folder =>
            {
                ModelFolder.WriteTokenizerConfig(folder, s.LowerCase, s.SeqLength);
                TokenizerJson.Save(folder, vocab, s.LowerCase, s.SeqLength);
            },
            Communicator = comm,
        };
    }

    /// <summary>The names a run writes and replaces in its folder; everything else in it is left alone.</summary>
    public static readonly IReadOnlyList<string> ManagedNames =
    [
        "vocab.txt", VocabOriginFile, "corpus", CheckpointsFolder, RunSettings.FileName, MetricsLog.JsonlName, MetricsLog.CsvName,
        MetricsLog.CurvesName, RunSummary.FileName, RunLock.FileName,
    ];

    /// <summary><see cref="OutputPaths.RequireApartFromManaged"/> for the run folder and its inputs (corpus,
    /// --init-from), then, in a folder without run.json (a new run), no vocabulary, store or checkpoints that no run
    /// made: they would be replaced.</summary>
    private void CheckRunFolder()
    {
        var s = Settings;
        OutputPaths.RequireApartFromManaged(RunDir, nameof(PretrainingRequest.RunDir), ManagedNames, s.CorpusPath, s.InitFrom, s.Teacher?.Path);
        foreach (var name in ManagedNames)
            OutputPaths.RequireWritable(Path.Combine(RunDir, name), nameof(PretrainingRequest.RunDir));
        if (File.Exists(Path.Combine(RunDir, RunSettings.FileName))) return;
        string? foreign =
            File.Exists(Path.Combine(RunDir, "vocab.txt")) && !File.Exists(Path.Combine(RunDir, VocabOriginFile)) ? "vocab.txt (no vocab_origin.json beside it)"
            : Directory.Exists(Path.Combine(RunDir, "corpus")) && !File.Exists(Path.Combine(RunDir, "corpus", TokenizedCorpusFiles.Manifest))
              && Directory.EnumerateFileSystemEntries(Path.Combine(RunDir, "corpus")).Any() ? "corpus/ (not a tokenized store)"
            : Directory.Exists(Path.Combine(RunDir, CheckpointsFolder)) && Directory.EnumerateFileSystemEntries(Path.Combine(RunDir, CheckpointsFolder)).Any()
              ? $"{CheckpointsFolder}/ (but no {RunSettings.FileName})"
            : null;
        if (foreign is not null)
            throw new BertSharpException($"RunDir {RunDir}: holds {foreign}, which no pretraining run made and this run would replace; move it or choose another folder") { Properties = [nameof(PretrainingRequest.RunDir)] };
    }

    private Vocabulary BuildVocabulary(string corpusPath, string vocabPath, CancellationToken cancel)
    {
        var s = Settings;
        Vocabulary vocab;
        string originPath = Path.Combine(RunDir, VocabOriginFile);
        string? origin = null;
        if (File.Exists(vocabPath))
        {
            vocab = BadInput(() => Vocabulary.Load(vocabPath));
            if (_existing)
            {
                // The run's own vocabulary (its checkpoints use it): kept whatever the corpus files do now.
                Log("vocabulary", $"vocabulary: {vocabPath} ({vocab.Count:N0} tokens) kept");
                return vocab;
            }
            // No run.json yet: vocab.txt was left by an earlier attempt that stopped before training. It is reused only
            // when it was made from this corpus with these settings (and is the file that record describes).
            string? recorded = File.Exists(originPath) ? File.ReadAllText(originPath) : null;
            origin = VocabOrigin(corpusPath);
            if (recorded == OriginRecord(origin, vocab))
            {
                Log("vocabulary", $"vocabulary: {vocabPath} ({vocab.Count:N0} tokens, left by an earlier attempt with the same corpus and settings) kept");
                return vocab;
            }
            Log("vocabulary", $"vocabulary: {vocabPath} was left by an earlier attempt "
                + (recorded is null ? "with no record of its corpus and settings" : "with another corpus, vocabulary size or casing") + "; made again");
        }
        if (File.Exists(originPath)) File.Delete(originPath);
        if (s.InitFrom is not null)
        {
            vocab = Init(s.InitFrom).Vocabulary;
            vocab.Save(vocabPath);
            Log("vocabulary", $"vocabulary: {vocab.Count:N0} tokens from {s.InitFrom} -> {vocabPath}");
        }
        else if (s.Teacher is { } teacher)
        {
            vocab = TeacherModel().Vocabulary;
            vocab.Save(vocabPath);
            Log("vocabulary", $"vocabulary: {vocab.Count:N0} tokens from the teacher {teacher.Path} -> {vocabPath}");
        }
        else vocab = TrainVocabulary(corpusPath, vocabPath, cancel);
        WriteAtomically(originPath, OriginRecord(origin ?? VocabOrigin(corpusPath), vocab));
        return vocab;
    }

    /// <summary>Beside vocab.txt: what it was made from (corpus, its files' fingerprint, vocabulary size, minimum
    /// frequency, casing, or the --init-from checkpoint) and its hash, so that a vocabulary left by a failed first
    /// attempt is reused only for the same corpus and settings.</summary>
    public const string VocabOriginFile = "vocab_origin.json";

    private string VocabOrigin(string corpusPath)
    {
        var s = Settings;
        var o = new Dictionary<string, object?>
        {
            ["corpus"] = s.Corpus, ["corpus_path"] = Path.GetFullPath(corpusPath), ["corpus_format"] = s.CorpusFormat,
            ["corpus_fingerprint"] = s.InitFrom is null && s.Teacher is null ? OpenCorpus(corpusPath).Fingerprint() : null,
            ["vocab_size"] = s.VocabSize, ["min_frequency"] = s.MinFrequency, ["lowercase"] = s.LowerCase,
            ["init_from"] = s.InitFrom is null ? null : Path.GetFullPath(s.InitFrom),
        };
        // Only with a teacher (whose vocabulary it is), so the records of runs without one stay as they were.
        if (s.Teacher is { } teacher) o["teacher_sha256"] = teacher.Sha256;
        // The hash follows as the last field (appended textually, so the comparison is exact).
        return JsonSerializer.Serialize(o)[..^1] + ",\"vocab_sha256\":\"";
    }

    private static string OriginRecord(string origin, Vocabulary vocab) => origin + vocab.Sha256 + "\"}\n";

    private static void WriteAtomically(string path, string text) => AtomicFile.WriteAllText(path, text);

    private TokenizedCorpusManifest BuildStore(string corpusPath, Vocabulary vocab, string vocabPath, string storeDir, CancellationToken cancel)
    {
        var s = Settings;
        var reader = OpenCorpus(corpusPath);
        var clock = Stopwatch.StartNew();
        var built = BadInput(() => CorpusTokenizer.Build(reader, vocab, vocabPath, storeDir, new TokenizeOptions { LowerCase = s.LowerCase, Threads = Threads, Replace = true },
            new Reporter<TokenizeProgress>(p => Report("tokenizing", $"{p.Documents:N0} documents, {p.Tokens:N0} tokens", null)), cancel));
        var m = built.Manifest;
        Log("tokenizing", built.Reused
            ? $"tokenized corpus: {storeDir} kept ({m.Documents:N0} documents, {m.Tokens:N0} tokens)"
            : $"tokenized corpus: {m.Documents:N0} documents, {m.Sentences:N0} sentences, {m.Tokens:N0} tokens in {clock.Elapsed.TotalSeconds:F1} s -> {storeDir}");
        return m;
    }

    private Trainer CreateTrainer(ITrainingData data, TrainerOptions options, string checkpoints, string settingsPath)
    {
        var s = Settings;
        string? latest = Checkpoint.Latest(checkpoints);
        if (latest is not null)
        {
            var config = BadCheckpoint(() => BertConfig.Load(Path.Combine(latest, "config.json")), latest);
            if (config.ToJson() != s.Model.ToJson())
                throw new BertSharpException($"{latest}/config.json contradicts {settingsPath} (the model differs); use another Name", ErrorKind.Conflict) { Properties = [nameof(PretrainingRequest.Name)] };
            var trainer = BadCheckpoint(() => s.Teacher is null ? Trainer.Resume(latest, data, options, Device)
                : Trainer.Resume(latest, Student(new BertParameters(config, Checkpoint.ReadLabels(Path.Combine(latest, "config.json")), Device)), data, options), latest);
            if (trainer.State.TotalSteps != s.Steps || Math.Abs(trainer.State.PeakLearningRate - s.LearningRate) > 1e-12 * s.LearningRate)
                throw new BertSharpException($"{latest}/trainer_state.json contradicts {settingsPath} (steps or learning rate differ); use another Name", ErrorKind.Conflict) { Properties = [nameof(PretrainingRequest.Name)] };
            Log("training", trainer.State.Step >= s.Steps
                ? $"{RunDir}: already finished ({latest}); nothing left to train"
                : $"resuming from {latest} (step {trainer.State.Step:N0} of {s.Steps:N0})"
                  + (trainer.PrecisionChangedFrom is { } was ? $"; its steps so far ran in {was}, these run in {Device.Precision.Name()} (checkpoints are float32 in every precision)" : ""));
            return trainer;
        }
        var parameters = new BertParameters(s.Model, device: Device);
        if (s.InitFrom is null) parameters.Initialize(s.Seed);
        else
        {
            // The same shapes (the settings took the model from the checkpoint); only dropout may differ.
            // A fine-tuned checkpoint's classifier sits after the pretraining tensors: the prefix is the model.
            parameters.CopyFrom(Init(s.InitFrom).Parameters.ToArray().AsSpan(0, parameters.Layout.Length));
            Log("model", $"weights: from {s.InitFrom}");
            if (s.CopyPositions is int trained)
                Log("model", $"position embeddings: {parameters.CopyPositionEmbeddings(trained)} rows from {trained} on copied from positions 0-{trained - 1} (CopyPositions)");
        }
        return new Trainer(Student(parameters), data, options);
    }

    /// <summary>The model trained over <paramref name="parameters"/>: with the run's teacher (on the same device) when it has one.</summary>
    private BertForPreTraining Student(BertParameters parameters)
    {
        if (Settings.Teacher is not { } t) return new BertForPreTraining(parameters);
        var teacher = TeacherModel().To(Device);
        var student = new BertForPreTraining(parameters, new BertForPreTraining(teacher.Parameters), t.Loss);
        var c = teacher.Config;
        Log("model", $"teacher: {t.Path} ({c.NumHiddenLayers} layers, hidden {c.HiddenSize}); objective {t.AlphaSoft:G3} x soft-target MLM at T = {t.Temperature:G3} "
            + $"+ {t.AlphaMlm:G3} x MLM + {t.AlphaNsp:G3} x NSP"
            + (student.HasCosineTerm ? $" + {t.AlphaCos:G3} x cosine of the last hidden states" : $" (no cosine term: hidden {c.HiddenSize}, the student's {parameters.Config.HiddenSize})"));
        return student;
    }

    private Vocabulary TrainVocabulary(string corpusPath, string vocabPath, CancellationToken cancel)
    {
        var s = Settings;
        var options = new VocabularyTrainingOptions { VocabSize = s.VocabSize, MinFrequency = s.MinFrequency, LowerCase = s.LowerCase, Threads = Threads };
        var reader = OpenCorpus(corpusPath);
        var clock = Stopwatch.StartNew();
        var counted = VocabularyTraining.Count(reader, options,
            new Reporter<CountingProgress>(p => Report("counting words", $"{p.Documents:N0} documents", null)), cancel);
        foreach (var line in counted.Stats.WarningLines()) Log("vocabulary", line);
        var vocab = VocabularyTraining.Train(counted, options);
        vocab.Save(vocabPath);
        Log("vocabulary", $"vocabulary: {vocab.Count:N0} WordPiece tokens from {counted.Counts.TotalWords:N0} words in {clock.Elapsed.TotalSeconds:F1} s -> {vocabPath}"
            + (vocab.Count < s.VocabSize ? $" (asked for {s.VocabSize:N0}; nothing more occurs {s.MinFrequency}+ times)" : ""));
        return vocab;
    }

    private void Report(string stage, string message, double? fraction)
    {
        if (Lead) Progress?.Report(new PretrainingProgress(stage, message, fraction, true));
    }

    private CorpusReader OpenCorpus(string path)
    {
        // Validated when the run was opened: an unknown name cannot reach here.
        CorpusFormats.TryParse(Settings.CorpusFormat, out var format);
        return BadInput(() => CorpusReader.Open(path, format));
    }

    private string ResolveCorpusPath(CancellationToken cancel)
    {
        var s = Settings;
        if (s.Corpus == PretrainingRequest.SampleName)
        {
            if (!File.Exists(SamplePath)) throw new BertSharpException($"{SamplePath}: the bundled sample corpus is missing from the build output");
            return SamplePath;
        }
        if (s.Corpus != "imdb") return s.CorpusPath;
        if (!string.IsNullOrEmpty(s.CorpusPath))
        {
            if (!File.Exists(s.CorpusPath) && !Directory.Exists(s.CorpusPath))
                throw new BertSharpException($"ImdbArchive: {s.CorpusPath}: no such file or folder", ErrorKind.BadInput) { Properties = [nameof(PretrainingRequest.ImdbArchive)] };
            return s.CorpusPath;
        }
        // No archive given: an extracted copy in data/, else download it there.
        if (ImdbCorpusReader.FindImdbRoot("data") is { } root) return Path.GetFullPath(root);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        string got = BadInput(() => ImdbDataset.AcquireAsync("data", null, new Uri(ImdbDataset.Url), ImdbDataset.Sha256, http,
            new Reporter<DownloadProgress>(p => Report("imdb", $"{p.Received / 1e6:F1} MB{(p.Total is long t ? $" of {t / 1e6:F1} MB" : "")}",
                p.Total is long total && total > 0 ? (double)p.Received / total : null)),
            message => Log("imdb", message), cancel).GetAwaiter().GetResult());
        return Path.GetFullPath(got);
    }

    /// <summary>What a model that ignores its input scores on the validation set: MLM accuracy when always predicting
    /// the most frequent masked token, NSP accuracy when always answering the majority label. NSP's is not 50% on
    /// corpora where the forced-random rule (a document's last segment always gets a random B) tilts the labels.</summary>
    public static ChanceBaselines ChanceBaselines(ITrainingData data)
    {
        var counts = new Dictionary<int, long>();
        long total = 0, pairs = 0, randomNext = 0;
        for (int i = 0; i < data.ValidationBatchCount; i++)
        {
            var b = data.ValidationBatch(i);
            // Only the batch's own rows: a partial last batch leaves the previous batch's entries beyond them.
            for (int k = 0; k < b.BatchSize * b.MaxPredictions; k++)
            {
                if (b.MaskedLmWeights[k] <= 0) continue;
                counts[b.MaskedLmIds[k]] = counts.GetValueOrDefault(b.MaskedLmIds[k]) + 1;
                total++;
            }
            for (int k = 0; k < b.BatchSize; k++) randomNext += b.NextSentenceLabels[k];
            pairs += b.BatchSize;
        }
        double mlm = total == 0 ? 0 : (double)counts.Values.Max() / total;
        double nsp = pairs == 0 ? 0.5 : Math.Max(randomNext, pairs - randomNext) / (double)pairs;
        return new ChanceBaselines(mlm, nsp);
    }

    private static T BadInput<T>(Func<T> work) => BertSharpException.Guard(work);

    private static T BadCheckpoint<T>(Func<T> work, string folder) => BertSharpException.Guard(work, ErrorKind.BadCheckpoint, folder);

    private sealed class Reporter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
