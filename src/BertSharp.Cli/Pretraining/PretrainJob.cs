using System.Diagnostics;
using System.Text;
using BertSharp.Cli.Commands;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Cli.Pretraining;

/// <summary>The options of <c>bertsharp pretrain</c> as given (null: not given, take the default or the run folder's value).</summary>
public sealed record PretrainRequest
{
    public string? Corpus { get; init; }
    public string? Format { get; init; }
    public string? ImdbArchive { get; init; }
    public string? Preset { get; init; }
    public string? ConfigPath { get; init; }
    public float? Dropout { get; init; }
    public int? VocabSize { get; init; }
    public bool? Cased { get; init; }
    public int? SeqLength { get; init; }
    public int? BatchSize { get; init; }
    public int? GradAccum { get; init; }
    public double? LearningRate { get; init; }
    public int? Warmup { get; init; }
    public string? Schedule { get; init; }
    public int? Steps { get; init; }
    public double? Epochs { get; init; }
    public int? EvalEvery { get; init; }
    public int? EvalBatches { get; init; }
    public int? CheckpointEvery { get; init; }
    public ulong? Seed { get; init; }
    public int Threads { get; init; }
    public string? RunDir { get; init; }
    public string? Name { get; init; }
    public string? InitFrom { get; init; }
    public int? CopyPositions { get; init; }
    public bool Resume { get; init; }
}

/// <summary>
/// <c>bertsharp pretrain</c>: every stage that is not done yet — vocabulary, tokenized store, items — then
/// training, in a run folder that holds everything needed to continue (run.json, vocab.txt, corpus/,
/// checkpoints/) and to look at the run (metrics.jsonl, metrics.csv, curves.svg, summary.md).
/// </summary>
public sealed class PretrainJob(PretrainRequest q, CancellationToken cancel)
{
    public const string SampleName = "sample";
    /// <summary>The sample run's length: about 150 CPU-seconds on this project's 2-core machine (~80 s of wall time
    /// unloaded), see README.</summary>
    public const int SampleSteps = 1500;
    private TextWriter Out => CliConsole.Out;
    private TextWriter Err => CliConsole.Err;

    public static string SamplePath => Path.Combine(AppContext.BaseDirectory, "Sample", "reviews.txt");

    public int Run()
    {
        if (q.Threads < 0) throw Usage("--threads: must be 0 (one per core) or more");
        if (q.Threads > 0) KernelParallel.ThreadCount = q.Threads;
        string runDir = q.RunDir ?? Path.Combine("runs", q.Name ?? DefaultName());
        if (q.Name is not null && (q.Name.Length == 0 || q.Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || q.Name is "." or ".."))
            throw Usage($"--name: '{q.Name}' is not a valid folder name");
        string settingsPath = Path.Combine(runDir, RunSettings.FileName);
        string checkpoints = Path.Combine(runDir, CheckpointLoading.CheckpointsFolder);
        bool existing = File.Exists(settingsPath);
        if (q.Resume && (!existing || Checkpoint.Latest(checkpoints) is null))
            throw new UserException($"--resume: {runDir} holds no checkpoint to resume from", CliRunner.ExitBadInput);

        RunSettings s = existing ? RunSettings.Load(settingsPath) : Resolve();
        if (existing) CheckAgainst(s, settingsPath);
        else ValidateSettings(s);
        Directory.CreateDirectory(runDir);
        string corpusPath = ResolveCorpusPath(s);

        // Stage 1: vocabulary.
        string vocabPath = Path.Combine(runDir, "vocab.txt");
        Vocabulary vocab;
        if (File.Exists(vocabPath))
        {
            vocab = Load(() => Vocabulary.Load(vocabPath));
            Err.WriteLine($"vocabulary: {vocabPath} ({vocab.Count:N0} tokens) kept");
        }
        else if (s.InitFrom is not null)
        {
            vocab = InitCheckpoint(s.InitFrom).Vocabulary;
            vocab.Save(vocabPath);
            Err.WriteLine($"vocabulary: {vocab.Count:N0} tokens from {s.InitFrom} -> {vocabPath}");
        }
        else vocab = TrainVocabulary(s, corpusPath, vocabPath);

        // Stage 2: tokenized corpus.
        string storeDir = Path.Combine(runDir, "corpus");
        var reader = TextCommandSupport.OpenCorpus(corpusPath, s.CorpusFormat);
        var clock = Stopwatch.StartNew();
        var built = TextCommandSupport.Guard(() => TextCommandSupport.WithProgress("tokenizing", update =>
            CorpusTokenizer.Build(reader, vocab, vocabPath, storeDir, new TokenizeOptions { LowerCase = s.LowerCase, Threads = q.Threads },
                new InlineProgress(p => update($"{p.Documents:N0} documents, {p.Tokens:N0} tokens", null)), cancel)));
        var m = built.Manifest;
        Err.WriteLine(built.Reused
            ? $"tokenized corpus: {storeDir} kept ({m.Documents:N0} documents, {m.Tokens:N0} tokens)"
            : $"tokenized corpus: {m.Documents:N0} documents, {m.Sentences:N0} sentences, {m.Tokens:N0} tokens in {clock.Elapsed.TotalSeconds:F1} s -> {storeDir}");

        // Stage 3: items (made on the fly by the loader; here the split and the epoch length).
        using var store = Load(() => TokenizedCorpusStore.Open(storeDir));
        var split = Load(() => DocumentSplit.ForPretraining(store, s.Corpus == "imdb", s.ValidationFraction, s.Seed));
        if (split.Validation.Length < 2)
            throw new UserException($"{corpusPath}: too few documents to hold out a validation set ({split.Validation.Length} of {store.DocumentCount} at --validation-fraction {s.ValidationFraction})");
        s.Model.VocabSize = vocab.Count;
        var itemOptions = new PretrainingOptions
        {
            MaxSeqLength = s.SeqLength, MaxPredictionsPerSeq = s.MaxPredictions, MaskedLmProb = s.MaskedLmProb,
            Seed = s.Seed, MaxPositionEmbeddings = s.Model.MaxPositionEmbeddings, SpecialTokens = vocab.SpecialIds,
        };
        using var data = Load(() => new CorpusPretrainingData(store, split, itemOptions, s.BatchSize));
        int batchesPerEpoch = data.BatchesPerEpoch(0);
        if (batchesPerEpoch < 1)
            throw new UserException($"{corpusPath}: one epoch holds fewer items than one batch of {s.BatchSize}; use a smaller --batch-size or a larger corpus");
        if (s.Steps <= 0) s.Steps = Math.Max(1, (int)Math.Ceiling((s.Epochs ?? 1.0) * batchesPerEpoch / s.GradAccum));
        if (s.WarmupSteps < 0) s.WarmupSteps = Math.Min(s.Corpus == SampleName ? 60 : 10_000, s.Steps / 10);
        if (s.EvalEvery <= 0) s.EvalEvery = Math.Max(1, s.Steps / 20);
        if (s.CheckpointEvery <= 0) s.CheckpointEvery = Math.Max(s.EvalEvery, Math.Min(1000, s.Steps / 4));
        if (!existing) s.Save(settingsPath);
        else if (q.EvalEvery is not null || q.CheckpointEvery is not null) s.Save(settingsPath); // intervals may change between sessions
        var capped = new CappedValidation(data, s.EvalBatches);
        Err.WriteLine($"items: {split.Train.Length:N0} training / {split.Validation.Length:N0} validation documents, "
            + $"{batchesPerEpoch:N0} batches of {s.BatchSize} x {s.SeqLength} per epoch, validation {capped.ValidationBatchCount} batches");

        // Stage 4: training.
        var schedule = new LearningRateSchedule(LearningRateSchedule.ParseKind(s.Schedule), s.LearningRate, s.WarmupSteps, s.Steps);
        var options = new TrainerOptions
        {
            Schedule = schedule, GradientAccumulationSteps = s.GradAccum, WeightDecay = s.WeightDecay, Seed = s.Seed,
            OutputDir = checkpoints, Vocab = vocab.Tokens, KeepLast = s.KeepCheckpoints,
        };
        Trainer trainer;
        string? latest = Checkpoint.Latest(checkpoints);
        if (latest is not null)
        {
            var config = LoadCheckpoint(() => BertConfig.Load(Path.Combine(latest, "config.json")), latest);
            if (config.ToJson() != s.Model.ToJson())
                throw new UserException($"{latest}/config.json contradicts {settingsPath} (the model differs); use another --name", CliRunner.ExitConflict);
            trainer = LoadCheckpoint(() => Trainer.Resume(latest, capped, options), latest);
            if (trainer.State.TotalSteps != s.Steps || Math.Abs(trainer.State.PeakLearningRate - s.LearningRate) > 1e-12 * s.LearningRate)
                throw new UserException($"{latest}/trainer_state.json contradicts {settingsPath} (steps or learning rate differ); use another --name", CliRunner.ExitConflict);
            Err.WriteLine(trainer.State.Step >= s.Steps
                ? $"{runDir}: already finished ({latest}); nothing left to train"
                : $"resuming from {latest} (step {trainer.State.Step:N0} of {s.Steps:N0})");
        }
        else
        {
            var parameters = new BertParameters(s.Model);
            if (s.InitFrom is null) parameters.Initialize(s.Seed);
            else
            {
                // The same shapes (Resolve took the model from the checkpoint); only dropout may differ.
                parameters.CopyFrom(InitCheckpoint(s.InitFrom).Parameters.ToArray());
                Err.WriteLine($"weights: from {s.InitFrom}");
                if (s.CopyPositions is int trained)
                    Err.WriteLine($"position embeddings: {parameters.CopyPositionEmbeddings(trained)} rows from {trained} on copied from positions 0-{trained - 1} (--copy-positions)");
            }
            trainer = new Trainer(new BertForPreTraining(parameters), capped, options);
        }
        long parameterCount = trainer.Model.Parameters.Layout.ParameterCount;
        Err.WriteLine($"model: {(s.Preset is null ? "custom config" : s.Preset)} ({s.Model.NumHiddenLayers} layers, hidden {s.Model.HiddenSize}, "
            + $"{s.Model.NumAttentionHeads} heads, vocab {s.Model.VocabSize:N0}), {parameterCount:N0} parameters; {KernelParallel.ThreadCount} threads");

        var baselines = ChanceBaselines(capped);
        var log = new MetricsLog(runDir, trainer.State.Step);
        string title = $"{Path.GetFileName(Path.GetFullPath(runDir))}: {(s.Preset is null ? "custom" : s.Preset)} BERT on "
            + (s.Corpus == SampleName ? "the bundled sample" : s.Corpus == "imdb" ? "IMDB" : Path.GetFileName(Path.TrimEndingDirectorySeparator(s.Corpus)));
        return Train(trainer, capped, s, runDir, log, title, baselines, batchesPerEpoch, parameterCount, vocab, m);
    }

    private int Train(Trainer trainer, CappedValidation data, RunSettings s, string runDir, MetricsLog log, string title,
        Baselines baselines, int batchesPerEpoch, long parameterCount, Vocabulary vocab, TokenizedCorpusManifest manifest)
    {
        var state = trainer.State;
        long tokensPerStep = (long)s.BatchSize * s.SeqLength * s.GradAccum;
        var display = new TrainingDisplay(CliConsole.IsTerminal, Err);
        var session = Stopwatch.StartNew();
        double elapsedBefore = log.LastElapsed;
        long startStep = state.Step;
        var recentTimes = new Queue<double>();
        double recentSum = 0;
        long lastSaved = state.Step > 0 ? state.Step : -1;
        bool interrupted = false;

        // DataPosition counts items (-1 before the first batch); an epoch holds about batchesPerEpoch x batch size of them.
        double Epoch() => state.Epoch + Math.Max(0, state.DataPosition) / (double)Math.Max(1, batchesPerEpoch * s.BatchSize);
        MetricRow Evaluate()
        {
            var e = trainer.Evaluate();
            var row = new MetricRow
            {
                Split = "validation", Step = e.Step, Epoch = Epoch(), LearningRate = state.LearningRate, Loss = e.Loss,
                MlmLoss = e.MlmLoss, NspLoss = e.NspLoss, MlmAccuracy = e.MlmAccuracy, NspAccuracy = e.NspAccuracy,
                Elapsed = elapsedBefore + session.Elapsed.TotalSeconds,
            };
            log.Add(row);
            log.WriteCurves(title, baselines.MostFrequentToken, baselines.NspMajority);
            display.Evaluation(row, s.Steps);
            return row;
        }
        string Save()
        {
            log.FlushCsv();
            string folder = trainer.SaveCheckpoint();
            CheckpointLoading.WriteTokenizerConfig(folder, s.LowerCase, s.SeqLength);
            lastSaved = state.Step;
            return folder;
        }

        display.Run(() =>
        {
            if (state.Step == 0 && !log.Validation.Any()) Evaluate();
            while (state.Step < s.Steps)
            {
                if (cancel.IsCancellationRequested) { interrupted = true; break; }
                var t0 = Stopwatch.GetTimestamp();
                StepResult r;
                try { r = trainer.TrainStep(); }
                catch (TrainingDivergedException e) { throw new UserException(e.Message, CliRunner.ExitDiverged); }
                double dt = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                recentTimes.Enqueue(dt);
                recentSum += dt;
                if (recentTimes.Count > 20) recentSum -= recentTimes.Dequeue();
                double elapsed = elapsedBefore + session.Elapsed.TotalSeconds;
                log.Add(new MetricRow
                {
                    Step = r.Step, Epoch = Epoch(), LearningRate = r.LearningRate, Loss = r.Loss, MlmLoss = r.MlmLoss, NspLoss = r.NspLoss,
                    MlmAccuracy = r.MlmAccuracy, NspAccuracy = r.NspAccuracy, GradNorm = r.GradNorm,
                    TokensPerSecond = tokensPerStep / Math.Max(dt, 1e-9), Elapsed = elapsed,
                });
                display.Step(new TrainingStatus(r.Step, s.Steps, Epoch(), r.Loss, r.MlmAccuracy, r.NspAccuracy, r.LearningRate,
                    tokensPerStep * recentTimes.Count / Math.Max(recentSum, 1e-9), elapsed, null));
                CliConsole.AfterStep?.Invoke(r.Step);
                if (r.Step % s.EvalEvery == 0 || r.Step == s.Steps) Evaluate();
                if (r.Step % s.CheckpointEvery == 0 && r.Step < s.Steps) Save();
            }
            return 0;
        });
        log.FlushCsv();
        log.WriteCurves(title, baselines.MostFrequentToken, baselines.NspMajority);

        string resumeHint = $"bertsharp pretrain --run-dir {runDir} --resume";
        if (interrupted)
        {
            string folder = lastSaved == state.Step && trainer.LastCheckpoint is { } c ? c : Save();
            Out.WriteLine($"interrupted at step {state.Step:N0} of {s.Steps:N0}; checkpoint: {folder}");
            Out.WriteLine($"resume with: {resumeHint}   (dotnet run -c Release --project src/BertSharp.Cli -- pretrain --run-dir {runDir} --resume)");
            return CliRunner.ExitInterrupted;
        }
        string final = lastSaved == state.Step && trainer.LastCheckpoint is { } last ? last : Save();
        double wall = elapsedBefore + session.Elapsed.TotalSeconds;
        var v = log.Validation.LastOrDefault();
        WriteSummary(runDir, s, title, parameterCount, vocab, manifest, log, v, baselines, final, wall, state.Step - startStep);
        Out.WriteLine($"done: {s.Steps:N0} steps in {TrainingDisplay.Duration(wall)} of training");
        if (v is not null)
        {
            Out.WriteLine($"validation MLM accuracy {v.MlmAccuracy:P1} (chance: {1.0 / vocab.Count:P3} uniform, {baselines.MostFrequentToken:P1} always the most frequent token), "
                + $"NSP accuracy {v.NspAccuracy:P1} (chance: {baselines.NspMajority:P1} always the majority label), MLM perplexity {Math.Exp(v.MlmLoss):F2}");
        }
        Out.WriteLine($"run folder: {Path.GetFullPath(runDir)}  (summary.md, curves.svg, metrics.csv, checkpoints/)");
        Out.WriteLine($"final checkpoint: {final}");
        Out.WriteLine($"try it: bertsharp fill-mask {runDir} \"{(s.Corpus == SampleName ? "highly recommended, ten out of [MASK]." : "a text with a [MASK] in it.")}\"");
        if (s.Corpus == "sample")
            Out.WriteLine("next, on IMDB: dotnet run -c Release --project src/BertSharp.Cli -- pretrain --corpus imdb --imdb-archive PATH/aclImdb_v1.tar.gz --preset mini"
                + "   (no --imdb-archive: downloads it into data/)");
        return CliRunner.ExitOk;
    }

    private void WriteSummary(string runDir, RunSettings s, string title, long parameterCount, Vocabulary vocab, TokenizedCorpusManifest manifest,
        MetricsLog log, MetricRow? v, Baselines baselines, string final, double wall, long stepsThisSession)
    {
        var best = log.Validation.OrderBy(r => r.Loss).FirstOrDefault();
        var train = log.Rows.Where(r => r.Split == "train").ToList();
        double tps = train.Count > 0 ? train.Where(r => r.TokensPerSecond is not null).Select(r => r.TokensPerSecond!.Value).DefaultIfEmpty(0).Average() : 0;
        var sb = new StringBuilder();
        sb.Append($"# {title}\n\n");
        sb.Append($"- corpus: `{s.Corpus}` ({s.CorpusPath}), {manifest.Documents:N0} documents, {manifest.Tokens:N0} tokens\n");
        sb.Append($"- vocabulary: {vocab.Count:N0} WordPiece tokens ({(s.LowerCase ? "uncased" : "cased")})\n");
        sb.Append($"- model: {s.Preset ?? "custom config"}: {s.Model.NumHiddenLayers} layers, hidden {s.Model.HiddenSize}, {s.Model.NumAttentionHeads} heads, "
            + $"intermediate {s.Model.IntermediateSize}, {parameterCount:N0} parameters\n");
        if (s.InitFrom is not null) sb.Append($"- started from: `{s.InitFrom}` (--init-from)\n");
        if (s.CopyPositions is int cp) sb.Append($"- positions {cp} and beyond started as copies of positions 0-{cp - 1} (--copy-positions)\n");
        sb.Append($"- training: {s.Steps:N0} steps of {s.BatchSize} x {s.SeqLength} tokens (x{s.GradAccum} accumulation), peak lr {s.LearningRate:G3} ({s.Schedule}, "
            + $"{s.WarmupSteps} warm-up steps), seed {s.Seed}\n");
        sb.Append($"- time: {TrainingDisplay.Duration(wall)} of training, {tps:N0} tokens/s on average, {KernelParallel.ThreadCount} threads\n\n");
        if (v is not null)
        {
            sb.Append("| validation (final) | value | chance |\n|---|---|---|\n");
            sb.Append($"| MLM accuracy | {v.MlmAccuracy:P1} | {1.0 / vocab.Count:P3} uniform, {baselines.MostFrequentToken:P1} most frequent token |\n");
            sb.Append($"| NSP accuracy | {v.NspAccuracy:P1} | {baselines.NspMajority:P1} majority label |\n");
            sb.Append($"| MLM loss / perplexity | {v.MlmLoss:F3} / {Math.Exp(v.MlmLoss):F2} | {Math.Log(vocab.Count):F3} / {vocab.Count:N0} uniform |\n");
            sb.Append($"| NSP loss | {v.NspLoss:F3} | {Math.Log(2):F3} |\n\n");
        }
        if (best is not null) sb.Append($"Best validation loss {best.Loss:F4} at step {best.Step:N0}.\n\n");
        sb.Append($"Final checkpoint: `{final}`\n\n![curves](curves.svg)\n");
        MetricsLog.WriteAtomic(Path.Combine(runDir, "summary.md"), sb.ToString());
    }

    /// <summary>What a model that ignores its input scores on the validation set: MLM accuracy when always predicting
    /// the most frequent masked token, NSP accuracy when always answering the majority label. NSP's is not 50% on
    /// corpora where the forced-random rule (a document's last segment always gets a random B) tilts the labels.</summary>
    internal readonly record struct Baselines(double MostFrequentToken, double NspMajority);

    private static Baselines ChanceBaselines(ITrainingData data)
    {
        var counts = new Dictionary<int, long>();
        long total = 0, pairs = 0, randomNext = 0;
        for (int i = 0; i < data.ValidationBatchCount; i++)
        {
            var b = data.ValidationBatch(i);
            for (int k = 0; k < b.MaskedLmIds.Length; k++)
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
        return new Baselines(mlm, nsp);
    }

    private (string Path, LoadedCheckpoint Checkpoint)? _init;

    /// <summary>The --init-from checkpoint, loaded once per path (for the settings, the vocabulary and the weights).</summary>
    private LoadedCheckpoint InitCheckpoint(string path)
    {
        if (_init is not { } c || c.Path != path) _init = c = (path, CheckpointLoading.Load(path));
        return c.Checkpoint;
    }

    private Vocabulary TrainVocabulary(RunSettings s, string corpusPath, string vocabPath)
    {
        var options = new VocabularyTrainingOptions { VocabSize = s.VocabSize, MinFrequency = s.MinFrequency, LowerCase = s.LowerCase, Threads = q.Threads };
        var reader = TextCommandSupport.OpenCorpus(corpusPath, s.CorpusFormat);
        var clock = Stopwatch.StartNew();
        var counts = TextCommandSupport.Guard(() => TextCommandSupport.WithProgress("counting words", update =>
            WordPieceTrainer.CountWords(Documents(reader, update), options.LowerCase, options.Threads, cancel)));
        TextCommandSupport.ReportReadStats(reader.Stats);
        if (counts.Words.Length == 0) throw new UserException($"{corpusPath}: the corpus has no text");
        var vocab = TextCommandSupport.Guard(() => WordPieceTrainer.Train(counts, options));
        vocab.Save(vocabPath);
        Err.WriteLine($"vocabulary: {vocab.Count:N0} WordPiece tokens from {counts.TotalWords:N0} words in {clock.Elapsed.TotalSeconds:F1} s -> {vocabPath}"
            + (vocab.Count < s.VocabSize ? $" (asked for {s.VocabSize:N0}; nothing more occurs {s.MinFrequency}+ times)" : ""));
        return vocab;
    }

    private IEnumerable<CorpusDocument> Documents(CorpusReader reader, Action<string, double?> update)
    {
        long n = 0;
        foreach (var d in reader.ReadDocuments(cancel))
        {
            if ((++n & 1023) == 0) update($"{n:N0} documents", null);
            yield return d;
        }
    }

    private string DefaultName()
    {
        string corpus = q.Corpus ?? SampleName;
        string preset = q.Preset ?? (q.ConfigPath is not null ? Path.GetFileNameWithoutExtension(q.ConfigPath) : "tiny");
        if (corpus == SampleName) return q.Preset is null && q.ConfigPath is null ? SampleName : $"sample-{preset}";
        if (corpus == "imdb") return $"imdb-{preset}";
        string stem = Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(corpus));
        return $"{(stem.Length > 0 ? stem : "corpus")}-{preset}";
    }

    /// <summary>Settings for a new run: the options given, the rest from the defaults (the sample's own for the sample).</summary>
    /// <param name="rerun">for the comparison with an existing run.json: options that only make sense beside
    /// --init-from (--copy-positions) are then compared, not refused</param>
    private RunSettings Resolve(bool rerun = false)
    {
        string corpus = q.Corpus ?? SampleName;
        bool sample = corpus == SampleName;
        BertConfig model;
        LoadedCheckpoint? init = null;
        if (q.InitFrom is not null)
        {
            if (q.Preset is not null || q.ConfigPath is not null || q.VocabSize is not null || q.Cased is not null)
                throw Usage("--init-from: the model, vocabulary and casing come from the checkpoint; leave out --preset, --config, --vocab-size and --cased");
            init = InitCheckpoint(q.InitFrom);
            model = init.Config.Clone();
            if (q.CopyPositions is int cp && (cp < 1 || cp > model.MaxPositionEmbeddings))
                throw Usage($"--copy-positions: must be between 1 and the model's max_position_embeddings ({model.MaxPositionEmbeddings}), got {cp}");
        }
        else if (q.CopyPositions is not null && !rerun) throw Usage("--copy-positions: only with --init-from (it rewrites a pretrained model's position table)");
        else if (q.ConfigPath is not null)
        {
            if (q.Preset is not null) throw Usage("--preset and --config: give one or the other");
            model = TextCommandSupport.Guard(() => BertConfig.Load(q.ConfigPath));
        }
        else
        {
            string preset = q.Preset ?? "tiny";
            try { model = BertConfig.FromPreset(preset); }
            catch (ArgumentException e) { throw Usage($"--preset: {e.Message.Replace("preset: ", "")}"); }
            // The sample's few minutes are ~10 passes over 1,000 short documents with fresh masks each time: too short
            // for dropout to pay off, so the sample trains without it (measured: higher validation accuracy).
            if (sample) (model.HiddenDropoutProb, model.AttentionProbsDropoutProb) = (0f, 0f);
        }
        if (q.Dropout is float p)
        {
            try { model.SetDropout(p); }
            catch (ArgumentException e) { throw Usage($"--dropout: {e.Message}"); }
        }
        int seq = q.SeqLength ?? (sample ? 64 : 128);
        var s = new RunSettings
        {
            Corpus = corpus,
            CorpusFormat = q.Format ?? (sample ? "text-file" : "auto"),
            LowerCase = init?.LowerCase ?? !(q.Cased ?? false),
            VocabSize = q.VocabSize ?? (q.ConfigPath is not null || init is not null ? model.VocabSize : sample ? 2000 : 30522),
            Preset = init is not null ? init.Run?.Preset : q.ConfigPath is null ? (q.Preset ?? "tiny").ToLowerInvariant() : null,
            Model = model,
            SeqLength = seq,
            MaxPredictions = Math.Max(1, (int)Math.Ceiling(seq * 0.15)),
            BatchSize = q.BatchSize ?? (sample ? 16 : 32),
            GradAccum = q.GradAccum ?? 1,
            LearningRate = q.LearningRate ?? (sample ? 2e-3 : 5e-4),
            WarmupSteps = q.Warmup ?? -1,
            Schedule = q.Schedule ?? "linear",
            Steps = q.Steps ?? (q.Epochs is null && sample ? SampleSteps : 0),
            Epochs = q.Epochs,
            EvalEvery = q.EvalEvery ?? (sample ? 100 : 0),
            EvalBatches = q.EvalBatches ?? 50,
            CheckpointEvery = q.CheckpointEvery ?? (sample ? 500 : 0),
            Seed = q.Seed ?? 12345,
            ValidationFraction = sample ? 0.1 : corpus == "imdb" ? 0.05 : 0.05,
        };
        s.InitFrom = init?.Folder;
        s.CopyPositions = q.CopyPositions;
        s.CorpusPath = sample ? SamplePath : corpus == "imdb" ? (q.ImdbArchive is null ? "" : Path.GetFullPath(q.ImdbArchive)) : Path.GetFullPath(corpus);
        return s;
    }

    private static void ValidateSettings(RunSettings s)
    {
        if (s.Steps < 0) throw Usage($"--steps: must be positive, got {s.Steps}");
        if (s.Epochs is double e && !(e > 0 && double.IsFinite(e))) throw Usage($"--epochs: must be positive, got {e}");
        if (s.SeqLength < PretrainingOptions.MinSeqLength) throw Usage($"--seq-length: {s.SeqLength} is below the minimum of {PretrainingOptions.MinSeqLength}");
        if (s.SeqLength > s.Model.MaxPositionEmbeddings)
            throw Usage($"--seq-length: {s.SeqLength} exceeds the model's max_position_embeddings of {s.Model.MaxPositionEmbeddings}");
        if (s.BatchSize < 1) throw Usage($"--batch-size: must be at least 1, got {s.BatchSize}");
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
        if (s.CorpusFormat is not ("auto" or "imdb" or "text-folder" or "text-file" or "jsonl"))
            throw Usage($"--format: unknown format '{s.CorpusFormat}' (auto, imdb, text-folder, text-file, jsonl)");
        if (s.Corpus is not ("sample" or "imdb") && !File.Exists(s.CorpusPath) && !Directory.Exists(s.CorpusPath))
            throw new UserException($"--corpus: {s.Corpus}: no such file or folder (or use 'sample' or 'imdb')", CliRunner.ExitBadInput);
    }

    /// <summary>A rerun of an existing run folder: every option given must agree with run.json.</summary>
    private void CheckAgainst(RunSettings s, string path)
    {
        var fresh = Resolve(rerun: true);
        var conflicts = new List<string>();
        void Check<T>(string option, T? given, T stored)
        {
            if (given is not null && !EqualityComparer<T>.Default.Equals(given, stored)) conflicts.Add($"{option} {given} (the run has {stored})");
        }
        if (q.Corpus is not null && fresh.Corpus != s.Corpus && fresh.CorpusPath != s.CorpusPath) conflicts.Add($"--corpus {q.Corpus} (the run has {s.Corpus})");
        if (q.Preset is not null && q.Preset.ToLowerInvariant() != s.Preset) conflicts.Add($"--preset {q.Preset} (the run has {s.Preset ?? "a custom config"})");
        if (q.Dropout is not null && (fresh.Model.HiddenDropoutProb != s.Model.HiddenDropoutProb || fresh.Model.AttentionProbsDropoutProb != s.Model.AttentionProbsDropoutProb))
            conflicts.Add($"--dropout {q.Dropout} (the run has {s.Model.HiddenDropoutProb})");
        if (q.ConfigPath is not null)
        {
            fresh.Model.VocabSize = s.Model.VocabSize;
            // Without --dropout now, the run's own (perhaps --dropout-set) probabilities are not a contradiction.
            if (q.Dropout is null)
                (fresh.Model.HiddenDropoutProb, fresh.Model.AttentionProbsDropoutProb) = (s.Model.HiddenDropoutProb, s.Model.AttentionProbsDropoutProb);
            if (fresh.Model.ToJson() != s.Model.ToJson()) conflicts.Add($"--config {q.ConfigPath} (its model differs from the run's)");
        }
        if (q.InitFrom is not null && fresh.InitFrom != s.InitFrom)
            conflicts.Add($"--init-from {q.InitFrom} (the run has {s.InitFrom ?? "random initialisation"})");
        if (q.CopyPositions is not null && q.CopyPositions != s.CopyPositions)
            conflicts.Add($"--copy-positions {q.CopyPositions} (the run has {(s.CopyPositions is int c ? c.ToString() : "none")})");
        Check("--seq-length", q.SeqLength, s.SeqLength);
        Check("--batch-size", q.BatchSize, s.BatchSize);
        Check("--grad-accum", q.GradAccum, s.GradAccum);
        Check("--lr", q.LearningRate, s.LearningRate);
        Check("--warmup", q.Warmup, s.WarmupSteps);
        Check("--schedule", q.Schedule, s.Schedule);
        Check("--steps", q.Steps, s.Steps);
        Check("--epochs", q.Epochs, s.Epochs ?? double.NaN);
        Check("--seed", q.Seed, s.Seed);
        Check("--vocab-size", q.VocabSize, s.VocabSize);
        if (q.Cased is true && s.LowerCase) conflicts.Add("--cased (the run is uncased)");
        if (conflicts.Count > 0)
            throw new UserException($"{path}: the options contradict this run: {string.Join("; ", conflicts)}. Leave them out to continue the run, or use another --name",
                CliRunner.ExitConflict);
        if (q.EvalEvery is int ev) { if (ev < 1) throw Usage("--eval-every: must be positive"); s.EvalEvery = ev; }
        if (q.CheckpointEvery is int ce) { if (ce < 1) throw Usage("--checkpoint-every: must be positive"); s.CheckpointEvery = ce; }
        if (q.EvalBatches is int eb) { if (eb < 1) throw Usage("--eval-batches: must be at least 1"); s.EvalBatches = eb; }
    }

    private string ResolveCorpusPath(RunSettings s)
    {
        if (s.Corpus == SampleName)
        {
            if (!File.Exists(SamplePath)) throw new UserException($"{SamplePath}: the bundled sample corpus is missing from the build output");
            return SamplePath;
        }
        if (s.Corpus != "imdb") return s.CorpusPath;
        if (!string.IsNullOrEmpty(s.CorpusPath))
        {
            if (!File.Exists(s.CorpusPath) && !Directory.Exists(s.CorpusPath))
                throw new UserException($"--imdb-archive: {s.CorpusPath}: no such file or folder", CliRunner.ExitBadInput);
            return s.CorpusPath;
        }
        // No archive given: an extracted copy in data/, else download it there.
        if (ImdbCorpusReader.FindImdbRoot("data") is { } root) return Path.GetFullPath(root);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        string got = TextCommandSupport.Guard(() => TextCommandSupport.WithProgress("imdb", update =>
            ImdbDataset.AcquireAsync("data", null, new Uri(ImdbDataset.Url), ImdbDataset.Sha256, http,
                new Progress<DownloadProgress>(p => update($"{TextCommandSupport.Mb(p.Received)}{(p.Total is long t ? $" of {TextCommandSupport.Mb(t)}" : "")}",
                    p.Total is long total && total > 0 ? (double)p.Received / total : null)),
                message => Err.WriteLine(message), cancel).GetAwaiter().GetResult()));
        return Path.GetFullPath(got);
    }

    private static UserException Usage(string message) => new(message, CliRunner.ExitUsage);

    private static T Load<T>(Func<T> work)
    {
        try { return work(); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidOperationException)
        {
            throw new UserException(e.Message, CliRunner.ExitBadInput);
        }
    }

    private static T LoadCheckpoint<T>(Func<T> work, string folder)
    {
        try { return work(); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or FileNotFoundException or DirectoryNotFoundException
                                      or EndOfStreamException or IOException or System.Text.Json.JsonException)
        {
            throw new UserException(e.Message.Contains(folder) ? e.Message : $"{folder}: {e.Message}", CliRunner.ExitBadCheckpoint);
        }
    }

    private sealed class InlineProgress(Action<TokenizeProgress> report) : IProgress<TokenizeProgress>
    {
        public void Report(TokenizeProgress value) => report(value);
    }
}
