using System.Diagnostics;
using BertSharp.Text;

namespace BertSharp.Bench.Suites;

/// <summary>
/// Text processing on the real IMDB archive: reading alone, vocabulary training (30,522 tokens),
/// extraction + cleaning + sentence splitting + tokenization of all 100,000 reviews into a store,
/// tokenization throughput without I/O, the test split's statistics, and peak memory while tokenizing
/// the corpus repeated ten times (in a child process, so the peak is that job's alone).
/// Options: --archive PATH (default ../shared/data/aclImdb_v1.tar.gz), --repeats N (default 3),
/// --phase all|memory, --vocab PATH (memory phase), --threads N, --no-memory (skip step 6).
/// </summary>
public sealed class TextSuite : IBenchSuite
{
    public string Name => "text";
    public string Description => "IMDB: read, train a 30,522 vocab, tokenize into the store; 10x-corpus peak memory";

    public int Run(string[] args)
    {
        string archive = Arg(args, "--archive") ?? new[] { "../shared/data/aclImdb_v1.tar.gz", "/work/shared/data/aclImdb_v1.tar.gz" }
            .Select(Path.GetFullPath).FirstOrDefault(File.Exists, Path.GetFullPath("../shared/data/aclImdb_v1.tar.gz"));
        int repeats = int.Parse(Arg(args, "--repeats") ?? "3");
        int threads = int.Parse(Arg(args, "--threads") ?? "0");
        string phase = Arg(args, "--phase") ?? "all";
        if (!File.Exists(archive)) { Console.Error.WriteLine($"{archive}: no such file (use --archive)"); return 2; }
        var work = Directory.CreateTempSubdirectory("bertsharp-text-bench-").FullName;
        try
        {
            if (phase == "memory") return Memory(archive, Arg(args, "--vocab")!, work, threads);
            if (phase == "speed") return Speed(archive, Arg(args, "--vocab")!, repeats, threads, work);
            return All(archive, repeats, threads, work, args);
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    private static int All(string archive, int repeats, int threads, string work, string[] args)
    {
        Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; archive {archive}; threads {(threads == 0 ? Environment.ProcessorCount : threads)}; repeats {repeats}");

        // 1. Reading alone: gunzip + tar (the reader thread's share of the work; workers decode).
        var read = Measure(repeats, () =>
        {
            var reader = CorpusReader.Open(archive);
            long docs = 0;
            foreach (var _ in reader.ReadDocuments()) docs++;
            return $"{docs:N0} docs, {reader.Stats.Bytes / 1e6:F1} MB of text";
        });
        Report("read archive (gunzip+tar; reviews stay UTF-8 bytes)", read);

        // 2. Vocabulary training on all of IMDB (counting words + merges).
        string vocabPath = Path.Combine(work, "vocab.txt");
        WordCounts? counts = null;
        var count = Measure(repeats, () =>
        {
            counts = WordPieceTrainer.CountWords(CorpusReader.Open(archive).ReadDocuments(), lowerCase: true, threads);
            return $"{counts.TotalWords:N0} words, {counts.Words.Length:N0} distinct";
        });
        Report("train: count words", count);
        Vocabulary? vocab = null;
        var merge = Measure(repeats, () =>
        {
            vocab = WordPieceTrainer.Train(counts!, new VocabularyTrainingOptions { VocabSize = 30522, Threads = threads });
            return $"{vocab.Count:N0} tokens";
        });
        Report("train: merges", merge);
        Console.WriteLine($"  train total (median count + median merges): {count.Median + merge.Median:F2} s (target <= 60 s)");
        vocab!.Save(vocabPath);

        // 3. Full tokenization: archive -> clean -> split -> tokenize -> store.
        var options = new TokenizeOptions { Threads = threads };
        TokenizedCorpusManifest? manifest = null;
        var full = Measure(repeats, () =>
        {
            var store = Path.Combine(work, "store");
            if (Directory.Exists(store)) Directory.Delete(store, true);
            manifest = CorpusTokenizer.Build(CorpusReader.Open(archive), vocab, vocabPath, store, options).Manifest;
            return $"{manifest.Documents:N0} docs, {manifest.Sentences:N0} sentences, {manifest.Tokens:N0} tokens";
        });
        Report("tokenize all 100,000 reviews into the store", full);
        Console.WriteLine($"  target <= 15 s wall; text {manifest!.Words:N0} words");

        // 4. Tokenization alone (basic + WordPiece, already cleaned and split text in memory, 1 thread).
        var docs = CorpusReader.Open(archive).ReadDocuments().Select(d => d.CleanText()).ToList();
        long bytes = docs.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d));
        var ranges = new List<Range>();
        var sentences = new List<string>();
        foreach (var d in docs) { ranges.Clear(); SentenceSplitter.Split(d, ranges); foreach (var r in ranges) sentences.Add(d[r]); }
        var tokenOnly = Measure(repeats, () =>
        {
            var tok = new BertTokenizer(vocab, lowerCase: true);
            var ids = new List<int>(1 << 16);
            long n = 0;
            foreach (var s in sentences) { ids.Clear(); n += tok.Encode(s, ids); }
            return $"{n:N0} tokens";
        });
        Report("tokenize only (1 thread, text in memory)", tokenOnly);
        Console.WriteLine($"  {bytes / 1e6 / tokenOnly.Median:F1} MB/s per core ({bytes / 1e6:F1} MB UTF-8; target >= 10 MB/s)");
        var splitOnly = Measure(repeats, () =>
        {
            long n = 0;
            foreach (var d in docs) { ranges.Clear(); SentenceSplitter.Split(d, ranges); n += ranges.Count; }
            return $"{n:N0} sentences";
        });
        Report("sentence splitting only (1 thread)", splitOnly);
        var cleanOnly = Measure(repeats, () =>
        {
            long n = 0;
            foreach (var d in CorpusReader.Open(archive).ReadDocuments()) n += d.CleanText().Length;
            return $"{n:N0} chars (includes reading)";
        });
        Report("read + clean (1 thread)", cleanOnly);
        docs = null;
        sentences = null;

        // 5. The test split's statistics.
        var splitNames = manifest.SplitNames;
        var test = new SplitCounts();
        for (int s = 0; s < splitNames.Length; s++)
            if (splitNames[s].StartsWith("test/", StringComparison.Ordinal)) test.Add(manifest.Splits[s]);
        Console.WriteLine($"test split: {test.Documents:N0} reviews, {test.Sentences:N0} sentences, {test.Words:N0} words, {test.Tokens:N0} tokens, "
            + $"{(double)test.Tokens / test.Words:F4} tokens/word, [UNK] {100.0 * test.UnkTokens / test.Tokens:F4}% ({test.UnkTokens:N0})");
        Console.WriteLine($"all: {manifest.Documents:N0} reviews, {manifest.Sentences:N0} sentences, {(double)manifest.Tokens / manifest.Words:F4} tokens/word, "
            + $"[UNK] {100.0 * manifest.UnkTokens / manifest.Tokens:F4}%");

        // 5b. The same on the test split with a vocabulary trained without it (train + unsup only): the
        // [UNK] rate and tokens per word a model would see on unseen reviews.
        {
            var trainDocs = CorpusReader.Open(archive).ReadDocuments().Where(d => !splitNames[d.Info.Split].StartsWith("test/", StringComparison.Ordinal));
            var heldOutVocab = WordPieceTrainer.Train(trainDocs, new VocabularyTrainingOptions { VocabSize = 30522, Threads = threads });
            var testDocs = CorpusReader.Open(archive).ReadDocuments().Where(d => splitNames[d.Info.Split].StartsWith("test/", StringComparison.Ordinal));
            var heldOut = new TokenizedCorpusManifest();
            CorpusTokenizer.Write(testDocs, splitNames, heldOutVocab, Path.Combine(work, "store-test"), new TokenizeOptions { Threads = threads }, heldOut);
            Console.WriteLine($"test split, vocabulary trained on train+unsup only ({heldOutVocab.Count:N0} tokens): {heldOut.Sentences:N0} sentences, "
                + $"{(double)heldOut.Tokens / heldOut.Words:F4} tokens/word, [UNK] {100.0 * heldOut.UnkTokens / heldOut.Tokens:F4}% ({heldOut.UnkTokens:N0} of {heldOut.Tokens:N0})");
        }

        if (args.Contains("--no-memory")) return 0;
        // 6. Peak memory while tokenizing 10x IMDB, in a fresh process.
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (!Environment.ProcessPath!.EndsWith("BertSharp.Bench", StringComparison.Ordinal)) psi.ArgumentList.Add(typeof(TextSuite).Assembly.Location);
        foreach (var a in new[] { "text", "--phase", "memory", "--archive", archive, "--vocab", vocabPath, "--threads", threads.ToString() })
            psi.ArgumentList.Add(a);
        Console.WriteLine($"load average before the memory run: {File.ReadAllText("/proc/loadavg").Trim()}");
        using var child = Process.Start(psi)!;
        Console.Write(child.StandardOutput.ReadToEnd());
        child.WaitForExit();
        return child.ExitCode;
    }

    /// <summary>Only the timings that do not need training: full tokenization and tokenization alone, with a given vocabulary.</summary>
    private static int Speed(string archive, string vocabPath, int repeats, int threads, string work)
    {
        var vocab = Vocabulary.Load(vocabPath);
        var full = Measure(repeats, () =>
        {
            var store = Path.Combine(work, "store");
            if (Directory.Exists(store)) Directory.Delete(store, true);
            var m = CorpusTokenizer.Build(CorpusReader.Open(archive), vocab, vocabPath, store, new TokenizeOptions { Threads = threads }).Manifest;
            return $"{m.Documents:N0} docs, {m.Sentences:N0} sentences, {m.Tokens:N0} tokens";
        });
        Report("tokenize all 100,000 reviews into the store", full);
        var sentences = new List<string>();
        var ranges = new List<Range>();
        long bytes = 0;
        foreach (var d in CorpusReader.Open(archive).ReadDocuments())
        {
            var text = d.CleanText();
            bytes += System.Text.Encoding.UTF8.GetByteCount(text);
            ranges.Clear();
            SentenceSplitter.Split(text, ranges);
            foreach (var r in ranges) sentences.Add(text[r]);
        }
        var tokenOnly = Measure(repeats, () =>
        {
            var tok = new BertTokenizer(vocab, lowerCase: true);
            var ids = new List<int>(1 << 16);
            long n = 0;
            foreach (var s in sentences) { ids.Clear(); n += tok.Encode(s, ids); }
            return $"{n:N0} tokens";
        });
        Report("tokenize only (1 thread, text in memory)", tokenOnly);
        Console.WriteLine($"  {bytes / 1e6 / tokenOnly.CpuMedian:F1} MB/s per core of CPU time ({bytes / 1e6:F1} MB UTF-8)");
        return 0;
    }

    private static int Memory(string archive, string vocabPath, string work, int threads)
    {
        var vocab = Vocabulary.Load(vocabPath);
        var reader = CorpusReader.Open(archive);
        var ten = Enumerable.Range(0, 10).SelectMany(_ => reader.ReadDocuments());
        var manifest = new TokenizedCorpusManifest();
        var clock = Stopwatch.StartNew();
        CorpusTokenizer.Write(ten, reader.SplitNames, vocab, Path.Combine(work, "store10"), new TokenizeOptions { Threads = threads }, manifest);
        double seconds = clock.Elapsed.TotalSeconds;
        long peak = PeakRss();
        Console.WriteLine($"10x IMDB: {manifest.Documents:N0} docs, {manifest.Tokens:N0} tokens in {seconds:F1} s; "
            + $"peak RSS (VmHWM) {peak / (1024.0 * 1024):F0} MiB (target < 1024 MiB)");
        return 0;
    }

    private static long PeakRss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }

    private sealed record Timing(double[] Seconds, double[] CpuSeconds, string Note)
    {
        public double Median => Seconds.Order().ElementAt(Seconds.Length / 2);
        public double CpuMedian => CpuSeconds.Order().ElementAt(CpuSeconds.Length / 2);
    }

    private static Timing Measure(int repeats, Func<string> run)
    {
        var times = new double[repeats];
        var cpu = new double[repeats];
        string note = "";
        var self = Process.GetCurrentProcess();
        for (int r = 0; r < repeats; r++)
        {
            GC.Collect();
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            note = run();
            times[r] = clock.Elapsed.TotalSeconds;
            self.Refresh();
            cpu[r] = (self.TotalProcessorTime - cpu0).TotalSeconds;
        }
        return new Timing(times, cpu, note);
    }

    private static void Report(string what, Timing t) =>
        Console.WriteLine($"{what}: median {t.Median:F2} s wall, {t.CpuMedian:F2} s CPU (runs: {string.Join(", ", t.Seconds.Select(s => s.ToString("F2")))}); {t.Note}");

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
