using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>
/// The settings of a pretraining run as given (null: not given: the default for a new run, the run folder's value
/// for an existing one), named after the <c>pretrain</c> options. <see cref="PretrainingRun.Open"/> resolves them
/// against the run folder into the <see cref="RunSettings"/> that run.json holds. A run.json given as
/// <see cref="ConfigPath"/> (or through <see cref="WithRunSettings"/>) supplies every setting not given, so a run
/// can be repeated. The one type a program and the <c>pretrain</c> command fill; an error about a value names its property
/// (<see cref="BertSharpException.Properties"/>). <see cref="PretrainingRun"/> derives the trainer's and the items' options
/// from the resolved settings in one place.
/// </summary>
public sealed record PretrainingRequest
{
    /// <summary>The sample name of <see cref="Corpus"/>: the corpus bundled with the command line.</summary>
    public const string SampleName = "sample";
    /// <summary>The sample run's length: about 150 CPU-seconds on a 2-core machine.</summary>
    public const int SampleSteps = 1500;

    /// <summary>'sample', 'imdb' or a path.</summary>
    public string? Corpus { get; init; }
    /// <summary>How to read the corpus: auto, imdb, text-folder, text-file, jsonl.</summary>
    public string? Format { get; init; }
    /// <summary>With corpus 'imdb': an aclImdb archive or folder.</summary>
    public string? ImdbArchive { get; init; }
    /// <summary>Model size preset (tiny, mini, small, medium, base).</summary>
    public string? Preset { get; init; }
    /// <summary>A BERT config.json instead of a preset, or a run.json to repeat.</summary>
    public string? ConfigPath { get; init; }
    /// <summary>The model itself (a repeated run's); <see cref="Preset"/> then only names it.</summary>
    public BertConfig? Model { get; init; }
    /// <summary>Dropout of hidden states and attention weights.</summary>
    public float? Dropout { get; init; }
    /// <summary>WordPiece vocabulary size to train.</summary>
    public int? VocabSize { get; init; }
    /// <summary>Keep case and accents.</summary>
    public bool? Cased { get; init; }
    /// <summary>Tokens per training sequence.</summary>
    public int? SeqLength { get; init; }
    /// <summary>Sequences per micro-batch.</summary>
    public int? BatchSize { get; init; }
    /// <summary>Micro-batches per update.</summary>
    public int? GradAccum { get; init; }
    /// <summary>Peak learning rate.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Warm-up updates.</summary>
    public int? Warmup { get; init; }
    /// <summary>linear, cosine or constant.</summary>
    public string? Schedule { get; init; }
    /// <summary>Updates to train for.</summary>
    public int? Steps { get; init; }
    /// <summary>Passes over the training items, instead of <see cref="Steps"/>.</summary>
    public double? Epochs { get; init; }
    /// <summary>Evaluate every N updates (may change between sessions of a run).</summary>
    public int? EvalEvery { get; init; }
    /// <summary>At most this many validation batches (may change between sessions).</summary>
    public int? EvalBatches { get; init; }
    /// <summary>Checkpoint every N updates (may change between sessions).</summary>
    public int? CheckpointEvery { get; init; }
    /// <summary>Seed of initialisation, data order, masking and dropout.</summary>
    public ulong? Seed { get; init; }
    /// <summary>Start from this checkpoint's weights, config, vocabulary and casing.</summary>
    public string? InitFrom { get; init; }
    /// <summary>With <see cref="InitFrom"/>: positions from N on start as copies of 0..N-1.</summary>
    public int? CopyPositions { get; init; }
    /// <summary>Minimum word frequency for the vocabulary (no option; from a repeated run.json).</summary>
    public int? MinFrequency { get; init; }
    /// <summary>Share of tokens masked (no option; from a repeated run.json).</summary>
    public double? MaskedLmProb { get; init; }
    /// <summary>AdamW weight decay (no option; from a repeated run.json).</summary>
    public float? WeightDecay { get; init; }
    /// <summary>Checkpoints kept (no option; from a repeated run.json).</summary>
    public int? KeepCheckpoints { get; init; }
    /// <summary>Share of documents held out (no option; from a repeated run.json).</summary>
    public double? ValidationFraction { get; init; }

    /// <summary>Pretraining distillation (DistilBERT's recipe): the teacher, a checkpoint, run or model folder of any depth and
    /// width with the student's vocabulary, run in eval mode on every batch. The student then reads the teacher's vocabulary
    /// and casing (or <see cref="InitFrom"/>'s, which must be the same). Null: no teacher (an existing run keeps its own).</summary>
    public string? Teacher { get; init; }
    /// <summary>With <see cref="Teacher"/>: T of the soft-target term (default 2).</summary>
    public float? Temperature { get; init; }
    /// <summary>With <see cref="Teacher"/>: weight of the soft-target MLM term (default 5, DistilBERT's alpha_ce).</summary>
    public float? AlphaSoft { get; init; }
    /// <summary>With <see cref="Teacher"/>: weight of the MLM term on the true tokens (default 2).</summary>
    public float? AlphaMlm { get; init; }
    /// <summary>With <see cref="Teacher"/>: weight of the NSP term on the true labels (default 1).</summary>
    public float? AlphaNsp { get; init; }
    /// <summary>With <see cref="Teacher"/>: weight of the cosine term between the last hidden states (default 1; only when
    /// teacher and student are equally wide).</summary>
    public float? AlphaCos { get; init; }

    /// <summary>The run.json this request repeats (its settings are merged in by <see cref="WithRunSettings"/>).</summary>
    public string? RepeatOf { get; init; }

    /// <summary>The run folder (default: runs/NAME).</summary>
    public string? RunDir { get; init; }
    /// <summary>The run's name, the folder under runs/.</summary>
    public string? Name { get; init; }
    /// <summary>Insist that the run folder has a checkpoint to continue from.</summary>
    public bool Resume { get; init; }

    /// <summary>True when <paramref name="path"/> is a run.json (an object with "model" and "corpus") rather than a BERT config.json.</summary>
    public static bool IsRunSettingsFile(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o && o["model"] is JsonObject && o["corpus"] is JsonValue; }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// This request with every setting it does not give taken from <paramref name="run"/> (another run's run.json),
    /// so the run is repeated. Given options win; given <see cref="Steps"/> or <see cref="Epochs"/> also reset the
    /// warm-up and the evaluation and checkpoint intervals to their defaults unless those are given too (they were
    /// sized for the other length). With <c>init_from</c>, the model, vocabulary and casing come from that checkpoint again.
    /// </summary>
    public PretrainingRequest WithRunSettings(RunSettings run)
    {
        bool lengthGiven = Steps is not null || Epochs is not null;
        bool modelGiven = Preset is not null || ConfigPath is not null || Model is not null;
        bool init = (InitFrom ?? run.InitFrom) is not null;
        // A student with a teacher reads the teacher's vocabulary and casing, as one started from a checkpoint reads its.
        bool fixedVocabulary = init || (Teacher ?? run.Teacher?.Path) is not null;
        var m = run.Model;
        return this with
        {
            Corpus = Corpus ?? (run.Corpus is SampleName or "imdb" ? run.Corpus : run.CorpusPath),
            ImdbArchive = ImdbArchive ?? (Corpus is null && run.Corpus == "imdb" && run.CorpusPath.Length > 0 ? run.CorpusPath : null),
            Format = Format ?? run.CorpusFormat,
            Preset = modelGiven || init ? Preset : run.Preset,
            Model = modelGiven || init ? Model : m.Clone(),
            Dropout = Dropout ?? (init && m.HiddenDropoutProb == m.AttentionProbsDropoutProb ? m.HiddenDropoutProb : null),
            VocabSize = VocabSize ?? (fixedVocabulary ? null : run.VocabSize),
            Cased = Cased ?? (fixedVocabulary ? null : !run.LowerCase),
            SeqLength = SeqLength ?? run.SeqLength,
            BatchSize = BatchSize ?? run.BatchSize,
            GradAccum = GradAccum ?? run.GradAccum,
            LearningRate = LearningRate ?? run.LearningRate,
            Warmup = Warmup ?? (lengthGiven ? null : run.WarmupSteps),
            Schedule = Schedule ?? run.Schedule,
            Steps = lengthGiven ? Steps : run.Steps,
            Epochs = lengthGiven ? Epochs : run.Epochs,
            EvalEvery = EvalEvery ?? (lengthGiven ? null : run.EvalEvery),
            EvalBatches = EvalBatches ?? run.EvalBatches,
            CheckpointEvery = CheckpointEvery ?? (lengthGiven ? null : run.CheckpointEvery),
            Seed = Seed ?? run.Seed,
            InitFrom = InitFrom ?? run.InitFrom,
            CopyPositions = CopyPositions ?? (InitFrom is null ? run.CopyPositions : null),
            MinFrequency = MinFrequency ?? run.MinFrequency,
            MaskedLmProb = MaskedLmProb ?? run.MaskedLmProb,
            WeightDecay = WeightDecay ?? run.WeightDecay,
            KeepCheckpoints = KeepCheckpoints ?? run.KeepCheckpoints,
            ValidationFraction = ValidationFraction ?? run.ValidationFraction,
            Teacher = Teacher ?? run.Teacher?.Path,
            Temperature = Temperature ?? run.Teacher?.Temperature,
            AlphaSoft = AlphaSoft ?? run.Teacher?.AlphaSoft,
            AlphaMlm = AlphaMlm ?? run.Teacher?.AlphaMlm,
            AlphaNsp = AlphaNsp ?? run.Teacher?.AlphaNsp,
            AlphaCos = AlphaCos ?? run.Teacher?.AlphaCos,
        };
    }

    /// <summary>Refuses values given out of range, whatever the run (<see cref="ErrorKind.Usage"/>, the property named in the
    /// message and <see cref="BertSharpException.Properties"/>): <c>Steps = 0</c> trains nothing, <c>Epochs = 0</c> neither,
    /// a zero interval is no interval.</summary>
    public void CheckGivenValues()
    {
        if (Steps is int st && st < 1) throw Usage($"Steps: must be at least 1, got {st}", nameof(Steps));
        if (Epochs is double ep && !(ep > 0 && double.IsFinite(ep))) throw Usage($"Epochs: must be positive, got {ep}", nameof(Epochs));
        if (Epochs is double many && many > MaxEpochs) throw Usage($"Epochs: {many} is more passes than a run can count (at most {MaxEpochs:N0})", nameof(Epochs));
        if (EvalEvery is int ev && ev < 1) throw Usage($"EvalEvery: must be at least 1, got {ev}", nameof(EvalEvery));
        if (CheckpointEvery is int ce && ce < 1) throw Usage($"CheckpointEvery: must be at least 1, got {ce}", nameof(CheckpointEvery));
        if (EvalBatches is int eb && eb < 1) throw Usage($"EvalBatches: must be at least 1, got {eb}", nameof(EvalBatches));
        if (Warmup is int w && w < 0) throw Usage($"Warmup: must be 0 or more, got {w}", nameof(Warmup));
        if (BatchSize is int b && b < 1) throw Usage($"BatchSize: must be at least 1, got {b}", nameof(BatchSize));
        if (GradAccum is int g && g < 1) throw Usage($"GradAccum: must be at least 1, got {g}", nameof(GradAccum));
        if (LearningRate is double lr && !(lr > 0 && double.IsFinite(lr))) throw Usage($"LearningRate: must be positive, got {lr}", nameof(LearningRate));
        if (VocabSize is int v && v < 6) throw Usage($"VocabSize: {v} leaves no room after the 5 special tokens", nameof(VocabSize));
        if (SeqLength is int sl && sl < PretrainingOptions.MinSeqLength) throw Usage($"SeqLength: {sl} is below the minimum of {PretrainingOptions.MinSeqLength}", nameof(SeqLength));
        if (Temperature is float t && !(t > 0 && float.IsFinite(t))) throw Usage($"Temperature: must be positive, got {t}", nameof(Temperature));
        foreach (var (name, value) in DistillationWeights)
            if (value is float a && !(a >= 0 && float.IsFinite(a))) throw Usage($"{name}: must be 0 or more, got {a}", name);
    }

    private (string Name, float? Value)[] DistillationWeights =>
        [(nameof(AlphaSoft), AlphaSoft), (nameof(AlphaMlm), AlphaMlm), (nameof(AlphaNsp), AlphaNsp), (nameof(AlphaCos), AlphaCos)];

    /// <summary>The distillation settings given (temperature and weights), by property name.</summary>
    private IEnumerable<string> DistillationGiven =>
        DistillationWeights.Where(w => w.Value is not null).Select(w => w.Name).Prepend(Temperature is null ? "" : nameof(Temperature)).Where(n => n.Length > 0);

    /// <summary>run.json's record of <paramref name="teacher"/> (its weights' hash <paramref name="sha256"/>) with the
    /// weights given, DistilBERT's defaults for the others; refuses an objective that trains nothing.</summary>
    private TeacherSettings TeacherSettingsFor(PretrainedModel teacher, string sha256)
    {
        var d = new PretrainingDistillation();
        var k = new PretrainingDistillation(Temperature ?? d.Temperature, AlphaSoft ?? d.AlphaSoft, AlphaMlm ?? d.AlphaMlm, AlphaNsp ?? d.AlphaNsp, AlphaCos ?? d.AlphaCos);
        try { k.Validate(); }
        catch (ArgumentOutOfRangeException e)
        {
            string message = e.Message.Split(" (Parameter")[0];
            // Every setting the message names (all four weights when they are all 0).
            throw Usage(message, [.. DistillationWeights.Select(w => w.Name).Prepend(nameof(Temperature)).Where(n => message.Contains(n, StringComparison.Ordinal))]);
        }
        return new TeacherSettings
        {
            Path = Path.GetFullPath(teacher.Folder), Sha256 = sha256,
            Temperature = k.Temperature, AlphaSoft = k.AlphaSoft, AlphaMlm = k.AlphaMlm, AlphaNsp = k.AlphaNsp, AlphaCos = k.AlphaCos,
        };
    }

    /// <summary>Whether two models read text alike: the same tokens in the same order, the same casing, the same vocab_size.</summary>
    internal static bool SameVocabulary(PretrainedModel a, PretrainedModel b) =>
        a.LowerCase == b.LowerCase && a.Config.VocabSize == b.Config.VocabSize && a.Vocabulary.Tokens.SequenceEqual(b.Vocabulary.Tokens);

    private static string Describe(PretrainedModel m) => $"{m.Vocabulary.Count:N0} {(m.LowerCase ? "uncased" : "cased")} tokens, vocab_size {m.Config.VocabSize:N0}";

    /// <summary>The most passes a run can count (trainer_state.json's epoch is an int).</summary>
    public const double MaxEpochs = int.MaxValue;

    /// <summary>The run folder: <see cref="RunDir"/>, else runs/NAME with NAME given or made from the corpus and model.</summary>
    public string ResolveRunDir()
    {
        if (RunDir is not null && Name is not null) throw Usage("RunDir and Name: give one or the other", nameof(RunDir), nameof(Name));
        if (Name is not null && (Name.Length == 0 || Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || Name is "." or ".."))
            throw Usage($"Name: '{Name}' is not a valid folder name", nameof(Name));
        return RunDir ?? Path.Combine("runs", Name ?? DefaultName());
    }

    private string DefaultName()
    {
        // A repeated run is named after the run it repeats (runs/imdb-mini/run.json: imdb-mini-repeat).
        if (RepeatOf is not null && Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(RepeatOf))) is { Length: > 0 } of) return $"{of}-repeat";
        string corpus = Corpus ?? SampleName;
        string preset = Preset ?? (ConfigPath is not null ? Path.GetFileNameWithoutExtension(ConfigPath) : "tiny");
        if (corpus == SampleName) return Preset is null && ConfigPath is null ? SampleName : $"sample-{preset}";
        if (corpus == "imdb") return $"imdb-{preset}";
        string stem = Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(corpus));
        return $"{(stem.Length > 0 ? stem : "corpus")}-{preset}";
    }

    /// <summary>Settings for a new run: the options given, the rest from the defaults (the sample's own for the sample).</summary>
    /// <param name="init">the <see cref="InitFrom"/> checkpoint, loaded</param>
    /// <param name="samplePath">where the bundled sample corpus is</param>
    /// <param name="rerun">for the comparison with an existing run.json: options that only make sense beside
    /// <see cref="InitFrom"/> (<see cref="CopyPositions"/>) or <see cref="Teacher"/> (its weights) are then compared, not refused</param>
    /// <param name="teacher">the <see cref="Teacher"/>, loaded, and the hash of its weights</param>
    internal RunSettings Resolve(PretrainedModel? init, string samplePath, bool rerun = false, (PretrainedModel Model, string Sha256)? teacher = null)
    {
        if (teacher is null && !rerun && DistillationGiven.ToArray() is { Length: > 0 } given)
            throw Usage($"{string.Join(", ", given)}: only with Teacher (the weights of pretraining distillation)", [.. given, nameof(Teacher)]);
        if (teacher is { } t && !rerun)
        {
            // Refused before any work: the student must read the teacher's tokens.
            if (init is not null && !SameVocabulary(init, t.Model))
                throw Usage($"Teacher {Teacher}: its vocabulary ({Describe(t.Model)}) is not the student's from InitFrom {InitFrom} ({Describe(init)}); "
                    + "a teacher must read the student's tokens", nameof(Teacher), nameof(InitFrom));
            if (init is null && (VocabSize is not null || Cased is not null))
                throw Usage("Teacher: the student reads the teacher's vocabulary and casing; leave out VocabSize and Cased", nameof(Teacher), nameof(VocabSize), nameof(Cased));
        }
        if (Steps is not null && Epochs is not null) throw Usage("Steps and Epochs: give one or the other", nameof(Steps), nameof(Epochs));
        if (ImdbArchive is not null && Corpus is not "imdb") throw Usage("ImdbArchive: only with Corpus imdb", nameof(ImdbArchive), nameof(Corpus));
        string corpus = Corpus ?? SampleName;
        bool sample = corpus == SampleName;
        BertConfig model;
        if (InitFrom is not null)
        {
            if (Preset is not null || ConfigPath is not null || VocabSize is not null || Cased is not null)
                throw Usage("InitFrom: the model, vocabulary and casing come from the checkpoint; leave out Preset, ConfigPath, VocabSize and Cased", nameof(InitFrom), nameof(Preset), nameof(ConfigPath), nameof(VocabSize), nameof(Cased));
            model = init!.Parameters.Config.Clone();
            if (CopyPositions is int cp && (cp < 1 || cp > model.MaxPositionEmbeddings))
                throw Usage($"CopyPositions: must be between 1 and the model's max_position_embeddings ({model.MaxPositionEmbeddings}), got {cp}", nameof(CopyPositions));
        }
        else if (CopyPositions is not null && !rerun) throw Usage("CopyPositions: only with InitFrom (it rewrites a pretrained model's position table)", nameof(CopyPositions), nameof(InitFrom));
        else if (Model is not null) model = Model.Clone();
        else if (ConfigPath is not null)
        {
            if (Preset is not null) throw Usage("Preset and ConfigPath: give one or the other", nameof(Preset), nameof(ConfigPath));
            model = Guard(() => BertConfig.Load(ConfigPath));
        }
        else
        {
            string preset = Preset ?? "tiny";
            try { model = BertConfig.FromPreset(preset); }
            catch (ArgumentException e) { throw Usage($"Preset: {e.Message.Replace("preset: ", "")}", nameof(Preset)); }
            // The sample's few minutes are ~10 passes over 1,000 short documents with fresh masks each time: too short
            // for dropout to pay off, so the sample trains without it (measured: higher validation accuracy).
            if (sample) (model.HiddenDropoutProb, model.AttentionProbsDropoutProb) = (0f, 0f);
        }
        if (Dropout is float p)
        {
            try { model.SetDropout(p); }
            catch (ArgumentException e) { throw Usage($"Dropout: {e.Message}", nameof(Dropout)); }
        }
        int seq = SeqLength ?? (sample ? 64 : 128);
        if (teacher is { } tm && !rerun)
        {
            if (init is null) model.VocabSize = tm.Model.Config.VocabSize;
            if (seq > tm.Model.Config.MaxPositionEmbeddings)
                throw Usage($"SeqLength: {seq} exceeds the teacher's max_position_embeddings of {tm.Model.Config.MaxPositionEmbeddings}", nameof(SeqLength), nameof(Teacher));
            if (tm.Model.Config.TypeVocabSize < model.TypeVocabSize)
                throw Usage($"Teacher {Teacher}: type_vocab_size {tm.Model.Config.TypeVocabSize}, fewer segment types than the student's {model.TypeVocabSize}", nameof(Teacher));
        }
        var s = new RunSettings
        {
            Corpus = corpus,
            CorpusFormat = Format ?? (sample ? "text-file" : "auto"),
            LowerCase = init?.LowerCase ?? teacher?.Model.LowerCase ?? !(Cased ?? false),
            VocabSize = VocabSize ?? (Model is not null || ConfigPath is not null || init is not null || teacher is not null ? model.VocabSize : sample ? 2000 : 30522),
            MinFrequency = MinFrequency ?? 2,
            Preset = init is not null ? init.Run?.Preset : Model is not null ? Preset : ConfigPath is null ? (Preset ?? "tiny").ToLowerInvariant() : null,
            Model = model,
            SeqLength = seq,
            MaxPredictions = Math.Max(1, (int)Math.Ceiling(seq * 0.15)),
            MaskedLmProb = MaskedLmProb ?? 0.15,
            BatchSize = BatchSize ?? (sample ? 16 : 32),
            GradAccum = GradAccum ?? 1,
            LearningRate = LearningRate ?? (sample ? 2e-3 : 5e-4),
            WarmupSteps = Warmup ?? -1,
            Schedule = Schedule ?? "linear",
            WeightDecay = WeightDecay ?? 0.01f,
            Steps = Steps ?? (Epochs is null && sample ? SampleSteps : 0),
            Epochs = Epochs,
            EvalEvery = EvalEvery ?? (sample ? 100 : 0),
            EvalBatches = EvalBatches ?? 50,
            CheckpointEvery = CheckpointEvery ?? (sample ? 500 : 0),
            KeepCheckpoints = KeepCheckpoints ?? 3,
            Seed = Seed ?? 12345,
            ValidationFraction = ValidationFraction ?? (sample ? 0.1 : 0.05),
        };
        s.InitFrom = init?.Folder;
        s.CopyPositions = CopyPositions;
        if (teacher is { } tt) s.Teacher = TeacherSettingsFor(tt.Model, tt.Sha256);
        s.CorpusPath = sample ? samplePath : corpus == "imdb" ? (ImdbArchive is null ? "" : Path.GetFullPath(ImdbArchive)) : Path.GetFullPath(corpus);
        return s;
    }

    /// <summary>Checks a new run's settings; each problem names the request's property (<see cref="BertSharpException.Properties"/>).</summary>
    internal static void Validate(RunSettings s)
    {
        if (s.Steps < 0) throw Usage($"Steps: must be positive, got {s.Steps}", nameof(Steps));
        if (s.Epochs is double e && !(e > 0 && double.IsFinite(e))) throw Usage($"Epochs: must be positive, got {e}", nameof(Epochs));
        if (s.Epochs is double many && many > MaxEpochs) throw Usage($"Epochs: {many} is more passes than a run can count (at most {MaxEpochs:N0})", nameof(Epochs));
        if (s.SeqLength < PretrainingOptions.MinSeqLength) throw Usage($"SeqLength: {s.SeqLength} is below the minimum of {PretrainingOptions.MinSeqLength}", nameof(SeqLength));
        if (s.SeqLength > s.Model.MaxPositionEmbeddings)
            throw Usage($"SeqLength: {s.SeqLength} exceeds the model's max_position_embeddings of {s.Model.MaxPositionEmbeddings}", nameof(SeqLength));
        if (s.BatchSize < 1) throw Usage($"BatchSize: must be at least 1, got {s.BatchSize}", nameof(BatchSize));
        if ((long)s.BatchSize * s.SeqLength > Array.MaxLength)
            throw Usage($"BatchSize: {s.BatchSize:N0} sequences of {s.SeqLength} tokens are more than a batch can hold ({Array.MaxLength:N0} tokens)", nameof(BatchSize));
        if (s.GradAccum < 1) throw Usage($"GradAccum: must be at least 1, got {s.GradAccum}", nameof(GradAccum));
        if (!(s.LearningRate > 0 && double.IsFinite(s.LearningRate))) throw Usage($"LearningRate: must be positive, got {s.LearningRate}", nameof(LearningRate));
        if (s.WarmupSteps < -1) throw Usage($"Warmup: must be 0 or more, got {s.WarmupSteps}", nameof(Warmup));
        if (s.Steps > 0 && s.Schedule != "constant" && s.WarmupSteps >= s.Steps) throw Usage($"Warmup: {s.WarmupSteps} must be fewer than Steps {s.Steps}", nameof(Warmup), nameof(Steps));
        if (s.EvalEvery < 0) throw Usage($"EvalEvery: must be positive, got {s.EvalEvery}", nameof(EvalEvery));
        if (s.EvalBatches < 1) throw Usage($"EvalBatches: must be at least 1, got {s.EvalBatches}", nameof(EvalBatches));
        if (s.CheckpointEvery < 0) throw Usage($"CheckpointEvery: must be positive, got {s.CheckpointEvery}", nameof(CheckpointEvery));
        if (s.VocabSize < 6) throw Usage($"VocabSize: {s.VocabSize} leaves no room after the 5 special tokens", nameof(VocabSize));
        try { LearningRateSchedule.ParseKind(s.Schedule); }
        catch (ArgumentException ex) { throw Usage($"Schedule: {ex.Message.Replace("schedule: ", "")}", nameof(Schedule)); }
        CorpusFormats.Parse(s.CorpusFormat, nameof(Format));
        if (s.Corpus is not (SampleName or "imdb") && !File.Exists(s.CorpusPath) && !Directory.Exists(s.CorpusPath))
            throw new BertSharpException($"Corpus: {s.Corpus}: no such file or folder (or use 'sample' or 'imdb')", ErrorKind.BadInput) { Properties = [nameof(Corpus)] };
    }

    /// <summary>A rerun of an existing run folder: every setting given must agree with its run.json (<paramref name="s"/>);
    /// the intervals (evaluation, checkpoints, validation batches) may change and are applied to <paramref name="s"/>.</summary>
    /// <param name="s">the run's settings (run.json)</param>
    /// <param name="path">run.json's path, for the message</param>
    /// <param name="init">the <see cref="InitFrom"/> checkpoint, loaded</param>
    /// <param name="samplePath">where the bundled sample corpus is</param>
    /// <param name="teacherSha256">the hash of the weights of the teacher given, or of the run's own when none is given</param>
    internal void CheckAgainst(RunSettings s, string path, PretrainedModel? init, string samplePath, string? teacherSha256 = null)
    {
        var fresh = Resolve(init, samplePath, rerun: true);
        var conflicts = new List<string>();
        var named = new List<string>();
        void Conflict(string property, string what)
        {
            conflicts.Add($"{property} {what}");
            named.Add(property);
        }
        void Check<T>(string property, T? given, T stored)
        {
            if (given is not null && !EqualityComparer<T>.Default.Equals(given, stored)) Conflict(property, $"{given} (the run has {stored})");
        }
        if (Corpus is not null && fresh.Corpus != s.Corpus && fresh.CorpusPath != s.CorpusPath) Conflict(nameof(Corpus), $"{Corpus} (the run has {s.Corpus})");
        if (Preset is not null && Model is null && Preset.ToLowerInvariant() != s.Preset) Conflict(nameof(Preset), $"{Preset} (the run has {s.Preset ?? "a custom config"})");
        if (Dropout is not null && (fresh.Model.HiddenDropoutProb != s.Model.HiddenDropoutProb || fresh.Model.AttentionProbsDropoutProb != s.Model.AttentionProbsDropoutProb))
            Conflict(nameof(Dropout), $"{Dropout} (the run has {s.Model.HiddenDropoutProb})");
        if ((ConfigPath is not null || Model is not null) && InitFrom is null)
        {
            fresh.Model.VocabSize = s.Model.VocabSize;
            // Without --dropout now, the run's own (perhaps --dropout-set) probabilities are not a contradiction.
            if (Dropout is null)
                (fresh.Model.HiddenDropoutProb, fresh.Model.AttentionProbsDropoutProb) = (s.Model.HiddenDropoutProb, s.Model.AttentionProbsDropoutProb);
            if (fresh.Model.ToJson() != s.Model.ToJson()) Conflict(ConfigPath is null ? nameof(RepeatOf) : nameof(ConfigPath), $"{ConfigPath ?? RepeatOf} (its model differs from the run's)");
        }
        if (InitFrom is not null && fresh.InitFrom != s.InitFrom)
            Conflict(nameof(InitFrom), $"{InitFrom} (the run has {s.InitFrom ?? "random initialisation"})");
        if (CopyPositions is not null && CopyPositions != s.CopyPositions)
            Conflict(nameof(CopyPositions), $"{CopyPositions} (the run has {(s.CopyPositions is int c ? c.ToString() : "none")})");
        Check(nameof(SeqLength), SeqLength, s.SeqLength);
        Check(nameof(BatchSize), BatchSize, s.BatchSize);
        Check(nameof(GradAccum), GradAccum, s.GradAccum);
        Check(nameof(LearningRate), LearningRate, s.LearningRate);
        Check(nameof(Warmup), Warmup, s.WarmupSteps);
        Check(nameof(Schedule), Schedule, s.Schedule);
        Check(nameof(Steps), Steps, s.Steps);
        Check(nameof(Epochs), Epochs, s.Epochs ?? double.NaN);
        Check(nameof(Seed), Seed, s.Seed);
        Check(nameof(VocabSize), VocabSize, s.VocabSize);
        Check(nameof(MinFrequency), MinFrequency, s.MinFrequency);
        Check(nameof(MaskedLmProb), MaskedLmProb, s.MaskedLmProb);
        Check(nameof(WeightDecay), WeightDecay, s.WeightDecay);
        Check(nameof(ValidationFraction), ValidationFraction, s.ValidationFraction);
        if (Cased is true && s.LowerCase) Conflict(nameof(Cased), "(the run is uncased)");
        if (Cased is false && !s.LowerCase && Model is not null) conflicts.Add("uncased (the run is cased)");
        if (s.Teacher is not { } teacher)
            foreach (var name in DistillationGiven.Prepend(Teacher is null ? "" : nameof(Teacher)).Where(n => n.Length > 0))
                Conflict(name, $"{(name == nameof(Teacher) ? Teacher : "given")} (the run has no teacher)");
        else
        {
            // The same teacher is the same weights: a path whose model changed (retrained, replaced) is another teacher.
            if (teacherSha256 != teacher.Sha256)
                Conflict(nameof(Teacher), $"{Teacher ?? teacher.Path} (other weights than the run's teacher {teacher.Path} had: sha256 {teacherSha256?[..12]}, the run's {teacher.Sha256[..Math.Min(12, teacher.Sha256.Length)]})");
            Check(nameof(Temperature), Temperature, teacher.Temperature);
            Check(nameof(AlphaSoft), AlphaSoft, teacher.AlphaSoft);
            Check(nameof(AlphaMlm), AlphaMlm, teacher.AlphaMlm);
            Check(nameof(AlphaNsp), AlphaNsp, teacher.AlphaNsp);
            Check(nameof(AlphaCos), AlphaCos, teacher.AlphaCos);
        }
        if (conflicts.Count > 0)
            throw new BertSharpException($"{path}: the options contradict this run: {string.Join("; ", conflicts)}. Leave them out to continue the run, or use another Name",
                ErrorKind.Conflict) { Properties = [.. named, nameof(Name)] };
        if (EvalEvery is int ev) { if (ev < 1) throw Usage("EvalEvery: must be positive", nameof(EvalEvery)); s.EvalEvery = ev; }
        if (CheckpointEvery is int ce) { if (ce < 1) throw Usage("CheckpointEvery: must be positive", nameof(CheckpointEvery)); s.CheckpointEvery = ce; }
        if (EvalBatches is int eb) { if (eb < 1) throw Usage("EvalBatches: must be at least 1", nameof(EvalBatches)); s.EvalBatches = eb; }
        if (KeepCheckpoints is int k) s.KeepCheckpoints = k;
    }

    /// <summary>A <see cref="ErrorKind.Usage"/> error naming <paramref name="properties"/> of the request.</summary>
    private static BertSharpException Usage(string message, params string[] properties) => new(message, ErrorKind.Usage) { Properties = properties };

    private static T Guard<T>(Func<T> work) => BertSharpException.Guard(work);
}
