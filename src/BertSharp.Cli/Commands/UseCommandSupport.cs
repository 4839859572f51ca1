using System.Text;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Cli.Pretraining;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary>What the commands that use a model share (finetune, classify, embed, export, import): finding the
/// model folder, loading it with the library's errors turned into one-line user errors, and reading input texts.</summary>
internal static class UseCommandSupport
{
    /// <summary>The checkpoint folder a path names (a model folder, a run folder, or a folder of checkpoint-N), through
    /// the shared <see cref="CheckpointLoading.Resolve"/>, and its run folder if any.</summary>
    public static (string Folder, string? Run) ResolveModelFolder(string path) => CheckpointLoading.Resolve(path);

    /// <summary>Loads a model folder with <see cref="ModelFolder.Load"/> (our checkpoints, exported or published HF
    /// folders, fine-tuned classifiers). A pretraining checkpoint without vocab.txt or tokenizer_config.json takes
    /// them from its run folder, as <see cref="CheckpointLoading"/> does.</summary>
    public static ModelFolder Load(string path, bool requireClassifier = false)
    {
        var (folder, run) = ResolveModelFolder(path);
        var m = Guard(() => ModelFolder.Load(folder, requireVocab: false), CliRunner.ExitBadCheckpoint);
        if (m.Vocabulary is null)
        {
            string? found = run is null ? null : Path.Combine(run, ModelFolder.VocabFile);
            if (found is null || !File.Exists(found))
                throw new UserException($"{Path.Combine(folder, ModelFolder.VocabFile)}: vocabulary not found (a model folder needs its vocab.txt)", CliRunner.ExitBadCheckpoint);
            m.Vocabulary = Guard(() => BertSharp.Text.Vocabulary.Load(found), CliRunner.ExitBadCheckpoint);
            if (m.Vocabulary.Count > m.Config.VocabSize)
                throw new UserException($"{found}: {m.Vocabulary.Count} tokens but the model's vocab_size is {m.Config.VocabSize}", CliRunner.ExitBadCheckpoint);
        }
        if (!File.Exists(Path.Combine(folder, ModelFolder.TokenizerConfigFile)) && run is not null)
        {
            bool? lower = Guard(() => CheckpointLoading.ReadLowerCase(run), CliRunner.ExitBadCheckpoint);
            if (lower is null && File.Exists(Path.Combine(run, RunSettings.FileName)))
                lower = Guard(() => RunSettings.Load(Path.Combine(run, RunSettings.FileName)), CliRunner.ExitBadCheckpoint).LowerCase;
            if (lower is bool l) m.LowerCase = l;
        }
        if (requireClassifier && m.Labels is null)
            throw new UserException($"{folder}: has no classifier head (classifier.weight); fine-tune it first with `bertsharp finetune`", CliRunner.ExitBadCheckpoint);
        return m;
    }

    public static T Guard<T>(Func<T> work, int exitCode = CliRunner.ExitBadInput)
    {
        try { return work(); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ArgumentException
                                      or UnauthorizedAccessException or EndOfStreamException)
        {
            throw new UserException(e.Message, exitCode);
        }
        catch (IOException e) when (e.GetType() == typeof(IOException))
        {
            throw new UserException(e.Message, exitCode);
        }
    }

    public static void Guard(Action work) => Guard(() => { work(); return 0; });

    private static readonly System.Text.RegularExpressions.Regex OptionLike = new(@"^--?[A-Za-z][A-Za-z0-9-]*(=.*)?$");

    /// <summary>A variadic text argument receives every token the parser cannot match, so a misspelt or unsupported
    /// option (say --threads) would silently become a text; anything shaped like an option is refused instead.</summary>
    public static void RejectOptionLike(IEnumerable<string> args, string command)
    {
        foreach (var a in args)
            if (OptionLike.IsMatch(a))
                throw new UserException($"{a}: not an option of {command} (see bertsharp {command} --help); a text that starts with '-' can be given with --file", CliRunner.ExitUsage);
    }

    /// <summary>The texts to process: the arguments, else the lines of <paramref name="file"/> ("-" = stdin), else stdin
    /// when it is redirected. Each item carries where it came from, for messages.</summary>
    public static List<(string Where, string Text)> ReadTexts(string[] args, string? file, string command)
    {
        var result = new List<(string, string)>();
        RejectOptionLike(args, command);
        if (args.Length > 0 && file is not null) throw new UserException("give texts as arguments or with --file, not both", CliRunner.ExitUsage);
        for (int i = 0; i < args.Length; i++) result.Add(($"argument {i + 1}", args[i]));
        if (args.Length > 0) return result;
        TextReader reader;
        string name;
        if (file is not null && file != "-")
        {
            if (!File.Exists(file)) throw new UserException($"{file}: file not found");
            reader = new StreamReader(file, new UTF8Encoding(false, false));
            name = file;
        }
        else if (file == "-" || Console.IsInputRedirected || !CliConsole.IsTerminal)
        {
            reader = CliConsole.In;
            name = "stdin";
        }
        else throw new UserException("no text: give it as an argument, with --file, or on stdin", CliRunner.ExitUsage);
        int n = 0;
        for (string? line; (line = reader.ReadLine()) != null;)
        {
            n++;
            if (line.Length > 4 << 20) throw new UserException($"{name}:{n}: line longer than {4 << 20:N0} characters");
            result.Add(($"{name}:{n}", line));
        }
        if (name != "stdin") reader.Dispose();
        if (result.Count == 0) throw new UserException($"no text: {name} is empty (give texts as arguments, with --file, or on stdin)");
        return result;
    }

    /// <summary>Default input length: 512 or the model's position table, whichever is smaller.</summary>
    public static int MaxLength(int? requested, BertConfig config)
    {
        int max = requested ?? Math.Min(512, config.MaxPositionEmbeddings);
        if (max < 3 || max > config.MaxPositionEmbeddings)
            throw new UserException($"--max-length: must be in [3, {config.MaxPositionEmbeddings}] for this model (max_position_embeddings), got {max}", CliRunner.ExitUsage);
        return max;
    }

    /// <summary>Runs texts through the encoder in batches; <paramref name="onBatch"/> sees the model after each forward pass
    /// with the batch's examples.</summary>
    public static void RunBatches(BertForSequenceClassification model, ClassificationEncoder encoder, IReadOnlyList<LabelledExample> examples,
        int batchSize, Action<int, int, int> onBatch)
    {
        var batcher = new ClassificationBatcher(encoder.Vocabulary, batchSize, encoder.MaxLength);
        model.Reserve(batchSize, encoder.MaxLength);
        var index = new int[batchSize];
        for (int start = 0; start < examples.Count; start += batchSize)
        {
            int b = Math.Min(batchSize, examples.Count - start);
            for (int i = 0; i < b; i++) index[i] = start + i;
            int seq = batcher.Fill(examples, index.AsSpan(0, b), b);
            model.Forward(batcher.Batch, DropoutContext.Off);
            onBatch(start, b, seq);
        }
    }
}
