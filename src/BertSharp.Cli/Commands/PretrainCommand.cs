using System.CommandLine;
using BertSharp.Cli.Pretraining;
using BertSharp.Runs;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp pretrain</c>: from raw text to a trained model in one command: the options become a
/// <see cref="PretrainingRequest"/>, the library's <see cref="PretrainingRun"/> does the work, and this renders it.</summary>
public static class PretrainCommand
{
    public static Command Create()
    {
        var corpus = new Option<string?>("--corpus")
        {
            Description = "What to train on: 'sample' (the bundled sample corpus; default), 'imdb' (the IMDB reviews: --imdb-archive, "
                + "else data/aclImdb, else a download into data/), or a path: a text file (one sentence per line, blank lines between "
                + "documents), a folder of .txt files, a .jsonl file with a \"text\" field, an aclImdb folder or archive",
        };
        var format = new Option<string?>("--format") { Description = "How to read --corpus: auto, imdb, text-folder, text-file, jsonl [default: auto]" };
        var imdbArchive = new Option<string?>("--imdb-archive") { Description = "With --corpus imdb: a local aclImdb_v1.tar.gz (read without extracting) or aclImdb folder" };
        var preset = new Option<string?>("--preset") { Description = "Model size: tiny (2x128), mini (4x256), small (4x512), medium (8x512), base (12x768) [default: tiny; for the sample without dropout]" };
        var config = new Option<string?>("--config")
        {
            Description = "A BERT config.json instead of --preset (its vocab_size is the vocabulary size to train), or another run's run.json to "
                + "repeat that run in a new folder (runs/NAME-repeat unless --name or --run-dir): options given beside it override its settings",
        };
        var dropout = new Option<float?>("--dropout") { Description = "Dropout probability of hidden states and attention weights, replacing the preset's or config's [default: 0.1; 0 for the sample]" };
        var vocabSize = new Option<int?>("--vocab-size") { Description = "WordPiece vocabulary size to train [default: 2000 for the sample, 30522 otherwise]" };
        var cased = new Option<bool?>("--cased") { Description = "Keep case and accents [default: uncased]" };
        var seqLength = new Option<int?>("--seq-length") { Description = "Tokens per training sequence [default: 64 for the sample, 128 otherwise]" };
        var batchSize = new Option<int?>("--batch-size") { Description = "Sequences per micro-batch [default: 16 for the sample, 32 otherwise]" };
        var gradAccum = new Option<int?>("--grad-accum") { Description = "Micro-batches per optimiser update (effective batch = batch size x this) [default: 1]" };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (AdamW) [default: 2e-3 for the sample, 5e-4 otherwise]" };
        var warmup = new Option<int?>("--warmup") { Description = "Warm-up updates [default: 10% of the steps, at most 60 for the sample and 10,000 otherwise]" };
        var schedule = new Option<string?>("--schedule") { Description = "Learning-rate schedule after warm-up: linear, cosine, constant [default: linear]" };
        var steps = new Option<int?>("--steps") { Description = "Optimiser updates to train for [default: 1500 for the sample; otherwise from --epochs]" };
        var epochs = new Option<double?>("--epochs") { Description = "Passes over the training items, instead of --steps [default: 1 when --steps is not given]" };
        var evalEvery = new Option<int?>("--eval-every") { Description = "Evaluate on the validation set every N updates (also updates curves.svg) [default: 100 for the sample, steps/20 otherwise]" };
        var evalBatches = new Option<int?>("--eval-batches") { Description = "At most this many validation batches per evaluation [default: 50]" };
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "Save a checkpoint every N updates (and always at the end) [default: 500 for the sample, steps/4 (at most 1000) otherwise]" };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of initialisation, data order, masking and dropout [default: 12345]" };
        var reportTo = new Option<string>("--report-to") { Description = "tensorboard: event files under the run folder's tensorboard/ (train/, validation/); none", DefaultValueFactory = _ => "tensorboard" };
        var threads = new Option<int>("--threads") { Description = "Compute threads (0: one per core; under mpirun, the cores of the node shared by its ranks)", DefaultValueFactory = _ => 0 };
        var runDir = new Option<string?>("--run-dir") { Description = "Run folder [default: runs/NAME]" };
        var name = new Option<string?>("--name") { Description = "Run name, the folder under runs/ [default: sample, imdb-PRESET or CORPUS-PRESET]" };
        var initFrom = new Option<string?>("--init-from")
        {
            Description = "Start from the weights of a checkpoint or run folder (a published HuggingFace BERT: `import` it first) instead of random ones, with its "
                + "config, vocabulary and casing (Google's init_checkpoint: phase 2 of a two-phase pretraining at a longer --seq-length, "
                + "or more pretraining of a published BERT on your corpus); the optimiser and schedule start afresh",
        };
        var copyPositions = new Option<int?>("--copy-positions")
        {
            Description = "With --init-from a model pretrained at length N: positions N and beyond (never trained) start as copies of "
                + "positions 0..N-1, position i taking i mod N (Longformer's initialisation), before training at a longer --seq-length",
        };
        var teacher = new Option<string?>("--teacher")
        {
            Description = "Pretraining distillation (DistilBERT's recipe): a pretrained model (run, checkpoint or model folder; any depth and width) "
                + "that teaches the student, run in eval mode on every batch. The student reads its vocabulary and casing (with --init-from, "
                + "that model's must be the same); the objective adds the soft-target MLM loss on the masked positions and, when the widths match, "
                + "a cosine loss between the last hidden states to MLM and NSP on the true labels. A rerun of the run folder keeps its teacher",
        };
        var temperature = new Option<float?>("--temperature") { Description = "With --teacher: T, softens both models' MLM logits in the soft-target term [default: 2]" };
        var alphaSoft = new Option<float?>("--alpha-soft") { Description = "With --teacher: weight of the soft-target MLM term, T^2 * KL(teacher || student) (DistilBERT's alpha_ce) [default: 5]" };
        var alphaMlm = new Option<float?>("--alpha-mlm") { Description = "With --teacher: weight of the MLM cross-entropy with the true tokens [default: 2]" };
        var alphaNsp = new Option<float?>("--alpha-nsp") { Description = "With --teacher: weight of the NSP cross-entropy with the true labels [default: 1]" };
        var alphaCos = new Option<float?>("--alpha-cos") { Description = "With --teacher: weight of the cosine loss between student's and teacher's last hidden states (equal widths only) [default: 1]" };
        var resume = new Option<bool>("--resume")
        {
            Description = "Continue the run in the run folder from its newest checkpoint (rerunning the same run folder does this too; "
                + "--resume insists that there is a checkpoint)",
        };
        var json = new Option<bool>("--json") { Description = "Print the final summary as one JSON object (snake_case keys) on standard output; progress stays on standard error" };
        var command = new Command("pretrain", "Pretrain BERT (MLM + NSP) on a corpus: trains the vocabulary, tokenizes the corpus, makes the items "
            + "and trains, skipping any stage already done in the run folder. With no options: the tiny model on the bundled sample, a few minutes.")
        {
            corpus, format, imdbArchive, preset, config, dropout, vocabSize, cased, seqLength, batchSize, gradAccum, lr, warmup, schedule,
            steps, epochs, evalEvery, evalBatches, checkpointEvery, seed, threads, reportTo, runDir, name, initFrom, copyPositions,
            teacher, temperature, alphaSoft, alphaMlm, alphaNsp, alphaCos, resume, json,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var reportTarget = ReportTargets.Parse(parse.GetValue(reportTo));
            int threadCount = parse.GetValue(threads);
            if (threadCount < 0) throw new BertSharpException("--threads: must be 0 (one per core) or more", ErrorKind.Usage);
            // Under mpirun: MPI_COMM_WORLD, and the node's cores shared by its ranks unless --threads says otherwise.
            var world = CliWorld.Start(threadCount);
            var request = new PretrainingRequest
            {
                Corpus = parse.GetValue(corpus), Format = parse.GetValue(format), ImdbArchive = parse.GetValue(imdbArchive),
                Preset = parse.GetValue(preset), ConfigPath = parse.GetValue(config), Dropout = parse.GetValue(dropout), VocabSize = parse.GetValue(vocabSize),
                Cased = parse.GetValue(cased), SeqLength = parse.GetValue(seqLength), BatchSize = parse.GetValue(batchSize),
                GradAccum = parse.GetValue(gradAccum), LearningRate = parse.GetValue(lr), Warmup = parse.GetValue(warmup),
                Schedule = parse.GetValue(schedule), Steps = parse.GetValue(steps), Epochs = parse.GetValue(epochs),
                EvalEvery = parse.GetValue(evalEvery), EvalBatches = parse.GetValue(evalBatches), CheckpointEvery = parse.GetValue(checkpointEvery),
                Seed = parse.GetValue(seed), RunDir = parse.GetValue(runDir), Name = parse.GetValue(name),
                InitFrom = parse.GetValue(initFrom), CopyPositions = parse.GetValue(copyPositions), Resume = parse.GetValue(resume),
                Teacher = parse.GetValue(teacher), Temperature = parse.GetValue(temperature), AlphaSoft = parse.GetValue(alphaSoft),
                AlphaMlm = parse.GetValue(alphaMlm), AlphaNsp = parse.GetValue(alphaNsp), AlphaCos = parse.GetValue(alphaCos),
            };
            // The one call site of the model loader for --init-from.
            var run = PretrainingRun.Open(request);
            run.Threads = threadCount;
            run.ReportTo = reportTarget;
            run.Communicator = world;
            run.Device = CliDevice.Current;
            // Data parallel: rank 0 alone prints (and writes the run folder); the others print nothing but errors.
            if (world.Rank != 0) return Task.FromResult(run.Run(cancel).Interrupted ? CliRunner.ExitInterrupted : CliRunner.ExitOk);
            var display = new TrainingDisplay(CliConsole.IsTerminal, CliConsole.Err) { AfterStep = CliConsole.AfterStep, AfterEvaluation = CliConsole.AfterEvaluation };
            run.Progress = display;
            run.Callbacks = [display];
            PretrainingResult result;
            try { result = display.Run(() => run.Run(cancel)); }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                // Stopped while building the vocabulary or the tokenized store: what is complete is kept and reused.
                string? again = File.Exists(Path.Combine(run.RunDir, BertSharp.IO.RunSettings.FileName)) ? $"bertsharp pretrain --run-dir {Quote(run.RunDir)}" : null;
                if (parse.GetValue(json))
                {
                    // --json stays JSON on every path that reports: the same keys as a finished run's, as far as they are known.
                    CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                    {
                        interrupted = true, training_started = false, step = 0, run_folder = Path.GetFullPath(run.RunDir),
                        final_checkpoint = (string?)null, resume_command = again ?? "the same pretrain command again",
                    }, CliJson.Indented));
                    return Task.FromResult(CliRunner.ExitInterrupted);
                }
                CliConsole.Out.WriteLine($"interrupted before training started; the stages completed so far are kept in {run.RunDir}");
                CliConsole.Out.WriteLine($"resume with: {again ?? "the same pretrain command again"}");
                return Task.FromResult(CliRunner.ExitInterrupted);
            }
            if (world is BertSharp.Distributed.MpiCommunicator mpi && mpi.AllReduceCalls > 0 && result.Training.StepsDone > 0)
            {
                // What the gradient allreduce cost rank 0 (for bench/ and docs/SCALING.md).
                long updates = result.Training.StepsDone;
                CliConsole.Err.WriteLine($"allreduce: {mpi.AllReduceSeconds / updates * 1000:F1} ms and {mpi.AllReduceBytes / (double)updates / 1e6:F2} MB per update "
                    + $"({mpi.AllReduceSeconds:F2} s of {result.Training.Seconds:F1} s training, {mpi.AllReduceCalls:N0} calls, {world.Size} ranks)");
            }
            return Task.FromResult(parse.GetValue(json) ? RenderJson(result) : Render(result));
        });
        return command;
    }

    /// <summary>The resume command printed after an interruption.</summary>
    private static string ResumeCommand(string runDir) => $"bertsharp pretrain --run-dir {Quote(runDir)} --resume";

    /// <summary>A path as a POSIX shell reads it back (quoted when it holds spaces or other special characters).</summary>
    internal static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:+,@%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    private static int RenderJson(PretrainingResult r)
    {
        var v = r.LastValidation;
        CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
        {
            interrupted = r.Interrupted, training_started = true, step = r.Step, steps = r.Settings.Steps, run_folder = Path.GetFullPath(r.RunDir),
            final_checkpoint = r.FinalCheckpoint, resume_command = r.Interrupted ? ResumeCommand(r.RunDir) : null,
            already_finished = r.AlreadyFinished, training_seconds = r.TrainingSeconds, vocabulary_size = r.VocabularySize, parameters = r.ParameterCount,
            validation = v is null ? null : new
            {
                step = v.Step, loss = v.Loss, mlm_loss = v.MlmLoss, nsp_loss = v.NspLoss, mlm_accuracy = v.MlmAccuracy, nsp_accuracy = v.NspAccuracy,
                mlm_perplexity = Math.Exp(v.MlmLoss),
            },
            chance = new { mlm_most_frequent_token = r.Baselines.MostFrequentToken, nsp_majority = r.Baselines.NspMajority, mlm_uniform = 1.0 / r.VocabularySize },
        }, CliJson.Indented));
        return r.Interrupted ? CliRunner.ExitInterrupted : CliRunner.ExitOk;
    }

    private static int Render(PretrainingResult r)
    {
        var o = CliConsole.Out;
        var s = r.Settings;
        string runDir = r.RunDir;
        if (r.Interrupted)
        {
            o.WriteLine($"interrupted at step {r.Step:N0} of {s.Steps:N0}; checkpoint: {r.FinalCheckpoint}");
            o.WriteLine($"resume with: {ResumeCommand(runDir)}   (dotnet run -c Release --project src/BertSharp.Cli -- pretrain --run-dir {runDir} --resume)");
            return CliRunner.ExitInterrupted;
        }
        o.WriteLine($"done: {s.Steps:N0} steps in {TrainingDisplay.Duration(r.TrainingSeconds)} of training");
        if (r.LastValidation is { } v)
        {
            o.WriteLine($"validation MLM accuracy {v.MlmAccuracy:P1} (chance: {1.0 / r.VocabularySize:P3} uniform, {r.Baselines.MostFrequentToken:P1} always the most frequent token), "
                + $"NSP accuracy {v.NspAccuracy:P1} (chance: {r.Baselines.NspMajority:P1} always the majority label), MLM perplexity {Math.Exp(v.MlmLoss):F2}");
        }
        bool sample = s.Corpus == PretrainingRequest.SampleName;
        o.WriteLine($"run folder: {Path.GetFullPath(runDir)}  (summary.md, curves.svg, metrics.csv, checkpoints/)");
        o.WriteLine($"final checkpoint: {r.FinalCheckpoint}");
        o.WriteLine($"try it: bertsharp fill-mask {runDir} \"{(sample ? "highly recommended, ten out of [MASK]." : "a text with a [MASK] in it.")}\"");
        if (sample)
            o.WriteLine("next, on IMDB: dotnet run -c Release --project src/BertSharp.Cli -- pretrain --corpus imdb --imdb-archive PATH/aclImdb_v1.tar.gz --preset mini"
                + "   (no --imdb-archive: downloads it into data/)");
        return CliRunner.ExitOk;
    }
}
