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
/// can be repeated.
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
        var m = run.Model;
        return this with
        {
            Corpus = Corpus ?? (run.Corpus is SampleName or "imdb" ? run.Corpus : run.CorpusPath),
            ImdbArchive = ImdbArchive ?? (Corpus is null && run.Corpus == "imdb" && run.CorpusPath.Length > 0 ? run.CorpusPath : null),
            Format = Format ?? run.CorpusFormat,
            Preset = modelGiven || init ? Preset : run.Preset,
            Model = modelGiven || init ? Model : m.Clone(),
            Dropout = Dropout ?? (init && m.HiddenDropoutProb == m.AttentionProbsDropoutProb ? m.HiddenDropoutProb : null),
            VocabSize = VocabSize ?? (init ? null : run.VocabSize),
            Cased = Cased ?? (init ? null : !run.LowerCase),
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
        };
    }

    /// <summary>Refuses option values given out of range, whatever the run (<see cref="ErrorKind.Usage"/>, the option
    /// named): <c>--steps 0</c> trains nothing, <c>--epochs 0</c> neither, a zero interval is no interval.</summary>
    public void CheckGivenValues()
    {
        if (Steps is int st && st < 1) throw Usage($"--steps: must be at least 1, got {st}");
        if (Epochs is double ep && !(ep > 0 && double.IsFinite(ep))) throw Usage($"--epochs: must be positive, got {ep}");
        if (Epochs is double many && many > MaxEpochs) throw Usage($"--epochs: {many} is more passes than a run can count (at most {MaxEpochs:N0})");
        if (EvalEvery is int ev && ev < 1) throw Usage($"--eval-every: must be at least 1, got {ev}");
        if (CheckpointEvery is int ce && ce < 1) throw Usage($"--checkpoint-every: must be at least 1, got {ce}");
        if (EvalBatches is int eb && eb < 1) throw Usage($"--eval-batches: must be at least 1, got {eb}");
        if (Warmup is int w && w < 0) throw Usage($"--warmup: must be 0 or more, got {w}");
        if (BatchSize is int b && b < 1) throw Usage($"--batch-size: must be at least 1, got {b}");
        if (GradAccum is int g && g < 1) throw Usage($"--grad-accum: must be at least 1, got {g}");
        if (LearningRate is double lr && !(lr > 0 && double.IsFinite(lr))) throw Usage($"--lr: must be positive, got {lr}");
        if (VocabSize is int v && v < 6) throw Usage($"--vocab-size: {v} leaves no room after the 5 special tokens");
        if (SeqLength is int sl && sl < PretrainingOptions.MinSeqLength) throw Usage($"--seq-length: {sl} is below the minimum of {PretrainingOptions.MinSeqLength}");
    }

    /// <summary>The most passes a run can count (trainer_state.json's epoch is an int).</summary>
    public const double MaxEpochs = int.MaxValue;

    /// <summary>The run folder: <see cref="RunDir"/>, else runs/NAME with NAME given or made from the corpus and model.</summary>
    public string ResolveRunDir()
    {
        if (RunDir is not null && Name is not null) throw Usage("--run-dir and --name: give one or the other");
        if (Name is not null && (Name.Length == 0 || Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || Name is "." or ".."))
            throw Usage($"--name: '{Name}' is not a valid folder name");
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
    /// <param name="init">the --init-from checkpoint, loaded</param>
    /// <param name="samplePath">where the bundled sample corpus is</param>
    /// <param name="rerun">for the comparison with an existing run.json: options that only make sense beside
    /// --init-from (--copy-positions) are then compared, not refused</param>
    internal RunSettings Resolve(PretrainedModel? init, string samplePath, bool rerun = false)
    {
        if (Steps is not null && Epochs is not null) throw Usage("--steps and --epochs: give one or the other");
        if (ImdbArchive is not null && Corpus is not "imdb") throw Usage("--imdb-archive: only with --corpus imdb");
        string corpus = Corpus ?? SampleName;
        bool sample = corpus == SampleName;
        BertConfig model;
        if (InitFrom is not null)
        {
            if (Preset is not null || ConfigPath is not null || VocabSize is not null || Cased is not null)
                throw Usage("--init-from: the model, vocabulary and casing come from the checkpoint; leave out --preset, --config, --vocab-size and --cased");
            model = init!.Parameters.Config.Clone();
            if (CopyPositions is int cp && (cp < 1 || cp > model.MaxPositionEmbeddings))
                throw Usage($"--copy-positions: must be between 1 and the model's max_position_embeddings ({model.MaxPositionEmbeddings}), got {cp}");
        }
        else if (CopyPositions is not null && !rerun) throw Usage("--copy-positions: only with --init-from (it rewrites a pretrained model's position table)");
        else if (Model is not null) model = Model.Clone();
        else if (ConfigPath is not null)
        {
            if (Preset is not null) throw Usage("--preset and --config: give one or the other");
            model = Guard(() => BertConfig.Load(ConfigPath));
        }
        else
        {
            string preset = Preset ?? "tiny";
            try { model = BertConfig.FromPreset(preset); }
            catch (ArgumentException e) { throw Usage($"--preset: {e.Message.Replace("preset: ", "")}"); }
            // The sample's few minutes are ~10 passes over 1,000 short documents with fresh masks each time: too short
            // for dropout to pay off, so the sample trains without it (measured: higher validation accuracy).
            if (sample) (model.HiddenDropoutProb, model.AttentionProbsDropoutProb) = (0f, 0f);
        }
        if (Dropout is float p)
        {
            try { model.SetDropout(p); }
            catch (ArgumentException e) { throw Usage($"--dropout: {e.Message}"); }
        }
        int seq = SeqLength ?? (sample ? 64 : 128);
        var s = new RunSettings
        {
            Corpus = corpus,
            CorpusFormat = Format ?? (sample ? "text-file" : "auto"),
            LowerCase = init?.LowerCase ?? !(Cased ?? false),
            VocabSize = VocabSize ?? (Model is not null || ConfigPath is not null || init is not null ? model.VocabSize : sample ? 2000 : 30522),
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
        s.CorpusPath = sample ? samplePath : corpus == "imdb" ? (ImdbArchive is null ? "" : Path.GetFullPath(ImdbArchive)) : Path.GetFullPath(corpus);
        return s;
    }

    /// <summary>Checks a new run's settings; each problem names its option.</summary>
    internal static void Validate(RunSettings s)
    {
        if (s.Steps < 0) throw Usage($"--steps: must be positive, got {s.Steps}");
        if (s.Epochs is double e && !(e > 0 && double.IsFinite(e))) throw Usage($"--epochs: must be positive, got {e}");
        if (s.Epochs is double many && many > MaxEpochs) throw Usage($"--epochs: {many} is more passes than a run can count (at most {MaxEpochs:N0})");
        if (s.SeqLength < PretrainingOptions.MinSeqLength) throw Usage($"--seq-length: {s.SeqLength} is below the minimum of {PretrainingOptions.MinSeqLength}");
        if (s.SeqLength > s.Model.MaxPositionEmbeddings)
            throw Usage($"--seq-length: {s.SeqLength} exceeds the model's max_position_embeddings of {s.Model.MaxPositionEmbeddings}");
        if (s.BatchSize < 1) throw Usage($"--batch-size: must be at least 1, got {s.BatchSize}");
        if ((long)s.BatchSize * s.SeqLength > Array.MaxLength)
            throw Usage($"--batch-size: {s.BatchSize:N0} sequences of {s.SeqLength} tokens are more than a batch can hold ({Array.MaxLength:N0} tokens)");
        if (s.GradAccum < 1) throw Usage($"--grad-accum: must be at least 1, got {s.GradAccum}");
        if (!(s.LearningRate > 0 && double.IsFinite(s.LearningRate))) throw Usage($"--lr: must be positive, got {s.LearningRate}");
        if (s.WarmupSteps < -1) throw Usage($"--warmup: must be 0 or more, got {s.WarmupSteps}");
        if (s.Steps > 0 && s.Schedule != "constant" && s.WarmupSteps >= s.Steps) throw Usage($"--warmup: {s.WarmupSteps} must be fewer than --steps {s.Steps}");
        if (s.EvalEvery < 0) throw Usage($"--eval-every: must be positive, got {s.EvalEvery}");
        if (s.EvalBatches < 1) throw Usage($"--eval-batches: must be at least 1, got {s.EvalBatches}");
        if (s.CheckpointEvery < 0) throw Usage($"--checkpoint-every: must be positive, got {s.CheckpointEvery}");
        if (s.VocabSize < 6) throw Usage($"--vocab-size: {s.VocabSize} leaves no room after the 5 special tokens");
        try { LearningRateSchedule.ParseKind(s.Schedule); }
        catch (ArgumentException ex) { throw Usage($"--schedule: {ex.Message.Replace("schedule: ", "")}"); }
        CorpusFormats.Parse(s.CorpusFormat, "--format");
        if (s.Corpus is not (SampleName or "imdb") && !File.Exists(s.CorpusPath) && !Directory.Exists(s.CorpusPath))
            throw new BertSharpException($"--corpus: {s.Corpus}: no such file or folder (or use 'sample' or 'imdb')", ErrorKind.BadInput);
    }

    /// <summary>A rerun of an existing run folder: every setting given must agree with its run.json (<paramref name="s"/>);
    /// the intervals (evaluation, checkpoints, validation batches) may change and are applied to <paramref name="s"/>.</summary>
    internal void CheckAgainst(RunSettings s, string path, PretrainedModel? init, string samplePath)
    {
        var fresh = Resolve(init, samplePath, rerun: true);
        var conflicts = new List<string>();
        void Check<T>(string option, T? given, T stored)
        {
            if (given is not null && !EqualityComparer<T>.Default.Equals(given, stored)) conflicts.Add($"{option} {given} (the run has {stored})");
        }
        if (Corpus is not null && fresh.Corpus != s.Corpus && fresh.CorpusPath != s.CorpusPath) conflicts.Add($"--corpus {Corpus} (the run has {s.Corpus})");
        if (Preset is not null && Model is null && Preset.ToLowerInvariant() != s.Preset) conflicts.Add($"--preset {Preset} (the run has {s.Preset ?? "a custom config"})");
        if (Dropout is not null && (fresh.Model.HiddenDropoutProb != s.Model.HiddenDropoutProb || fresh.Model.AttentionProbsDropoutProb != s.Model.AttentionProbsDropoutProb))
            conflicts.Add($"--dropout {Dropout} (the run has {s.Model.HiddenDropoutProb})");
        if ((ConfigPath is not null || Model is not null) && InitFrom is null)
        {
            fresh.Model.VocabSize = s.Model.VocabSize;
            // Without --dropout now, the run's own (perhaps --dropout-set) probabilities are not a contradiction.
            if (Dropout is null)
                (fresh.Model.HiddenDropoutProb, fresh.Model.AttentionProbsDropoutProb) = (s.Model.HiddenDropoutProb, s.Model.AttentionProbsDropoutProb);
            if (fresh.Model.ToJson() != s.Model.ToJson()) conflicts.Add($"--config {ConfigPath ?? RepeatOf} (its model differs from the run's)");
        }
        if (InitFrom is not null && fresh.InitFrom != s.InitFrom)
            conflicts.Add($"--init-from {InitFrom} (the run has {s.InitFrom ?? "random initialisation"})");
        if (CopyPositions is not null && CopyPositions != s.CopyPositions)
            conflicts.Add($"--copy-positions {CopyPositions} (the run has {(s.CopyPositions is int c ? c.ToString() : "none")})");
        Check("--seq-length", SeqLength, s.SeqLength);
        Check("--batch-size", BatchSize, s.BatchSize);
        Check("--grad-accum", GradAccum, s.GradAccum);
        Check("--lr", LearningRate, s.LearningRate);
        Check("--warmup", Warmup, s.WarmupSteps);
        Check("--schedule", Schedule, s.Schedule);
        Check("--steps", Steps, s.Steps);
        Check("--epochs", Epochs, s.Epochs ?? double.NaN);
        Check("--seed", Seed, s.Seed);
        Check("--vocab-size", VocabSize, s.VocabSize);
        Check("min_frequency", MinFrequency, s.MinFrequency);
        Check("masked_lm_prob", MaskedLmProb, s.MaskedLmProb);
        Check("weight_decay", WeightDecay, s.WeightDecay);
        Check("validation_fraction", ValidationFraction, s.ValidationFraction);
        if (Cased is true && s.LowerCase) conflicts.Add("--cased (the run is uncased)");
        if (Cased is false && !s.LowerCase && Model is not null) conflicts.Add("uncased (the run is cased)");
        if (conflicts.Count > 0)
            throw new BertSharpException($"{path}: the options contradict this run: {string.Join("; ", conflicts)}. Leave them out to continue the run, or use another --name",
                ErrorKind.Conflict);
        if (EvalEvery is int ev) { if (ev < 1) throw Usage("--eval-every: must be positive"); s.EvalEvery = ev; }
        if (CheckpointEvery is int ce) { if (ce < 1) throw Usage("--checkpoint-every: must be positive"); s.CheckpointEvery = ce; }
        if (EvalBatches is int eb) { if (eb < 1) throw Usage("--eval-batches: must be at least 1"); s.EvalBatches = eb; }
        if (KeepCheckpoints is int k) s.KeepCheckpoints = k;
    }

    private static BertSharpException Usage(string message) => new(message, ErrorKind.Usage);

    private static T Guard<T>(Func<T> work) => BertSharpException.Guard(work);
}
