using BertSharp.Data;
using BertSharp.Text;

namespace BertSharp.Bench.Suites;

/// <summary>
/// How hard is next-sentence prediction on a corpus? Scores a rule with no model at all on a pretraining run's own
/// NSP items: "B is the true next segment when it repeats at least k of A's rarer tokens" (rare = outside the
/// <c>--common</c> most frequent ids of the training items), with k chosen on training items and accuracy reported
/// on the validation items that <c>pretrain</c>/<c>evaluate</c> score. A model's NSP accuracy should beat it; on
/// IMDB, where every random B is another movie review, this rule is most of what topic overlap can give.
/// Options: --run DIR (a pretrain run folder: corpus/, vocab.txt, run.json), --seq-length N (default the run's),
/// --train-items N (default 40000), --eval-items N (default eval_batches x batch_size of the run), --common K (300).
/// </summary>
public sealed class NspBaselineSuite : IBenchSuite
{
    public string Name => "nsp-baseline";
    public string Description => "NSP items of a run: majority label and a token-overlap rule (no model), train-chosen threshold";

    public int Run(string[] args)
    {
        string run = Arg(args, "--run") ?? "runs/imdb-mini-p2";
        string corpusDir = Path.Combine(run, "corpus"), runJson = Path.Combine(run, "run.json");
        if (!File.Exists(runJson) || !Directory.Exists(corpusDir)) { Console.Error.WriteLine($"{run}: not a pretrain run folder (needs run.json and corpus/)"); return 2; }
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(runJson));
        var root = doc.RootElement;
        int seq = int.Parse(Arg(args, "--seq-length") ?? root.GetProperty("seq_length").GetInt32().ToString());
        ulong seed = root.GetProperty("seed").GetUInt64();
        double validationFraction = root.GetProperty("validation_fraction").GetDouble();
        int evalItems = int.Parse(Arg(args, "--eval-items") ?? (root.GetProperty("eval_batches").GetInt32() * root.GetProperty("batch_size").GetInt32()).ToString());
        int trainItems = int.Parse(Arg(args, "--train-items") ?? "40000");
        int common = int.Parse(Arg(args, "--common") ?? "300");

        using var store = TokenizedCorpusStore.Open(corpusDir);
        var split = DocumentSplit.ForPretraining(store, root.GetProperty("corpus").GetString() == "imdb", validationFraction, seed);
        var options = new PretrainingOptions { MaxSeqLength = seq, MaxPredictionsPerSeq = Math.Min(20, seq - 3), Seed = seed };
        var train = new PretrainingDataset(store, split.Train, options);
        var validation = new ValidationSet(new PretrainingDataset(store, split.Validation, options, "validation"));
        var items = new PretrainingItem[16];
        int planned = train.PlanCopy(0, ref items);
        int n = Math.Min(trainItems, planned);
        var buffer = new int[Math.Max(train.MaxSentenceLength, validation.Dataset.MaxSentenceLength)];

        // Frequent ids from the training sample (evenly spaced over the copy, so every part of the corpus counts).
        var sample = new (int[] A, int[] B, bool Random)[n];
        var frequency = new long[store.VocabSize];
        for (int i = 0; i < n; i++)
        {
            sample[i] = Segments(train, items[(int)((long)i * planned / n)], buffer);
            foreach (int t in sample[i].A) frequency[t]++;
            foreach (int t in sample[i].B) frequency[t]++;
        }
        var frequent = new bool[store.VocabSize];
        foreach (int t in Enumerable.Range(0, frequency.Length).OrderByDescending(t => frequency[t]).ThenBy(t => t).Take(common)) frequent[t] = true;

        int Shared((int[] A, int[] B, bool Random) x)
        {
            var inA = new HashSet<int>(x.A.Where(t => !frequent[t]));
            return x.B.Where(t => !frequent[t]).Distinct().Count(inA.Contains);
        }
        // Rule: IsNext iff shared >= k; pick k on the training sample.
        var trainShared = sample.Select(Shared).ToArray();
        var trainRandom = sample.Select(x => x.Random).ToArray();
        int bestK = 0;
        double bestTrain = 0;
        for (int k = 0; k <= 20; k++)
        {
            double acc = Accuracy(trainShared, trainRandom, k);
            if (acc > bestTrain) (bestTrain, bestK) = (acc, k);
        }
        int m = Math.Min(evalItems, validation.Count);
        var val = new (int[] A, int[] B, bool Random)[m];
        for (int i = 0; i < m; i++) val[i] = Segments(validation.Dataset, validation.Items[i], buffer);
        var valRandom = val.Select(v => v.Random).ToArray();
        double valAcc = Accuracy(val.Select(Shared).ToArray(), valRandom, bestK);
        double majority = Math.Max(valRandom.Count(r => r), valRandom.Count(r => !r)) / (double)m;

        Console.WriteLine($"run {run}: length {seq}, seed {seed}, {planned:N0} training items (sampled {n:N0}), {validation.Count:N0} validation items (scored {m:N0})");
        Console.WriteLine($"training sample: random B {sample.Count(s => s.Random) / (double)n:P1}; rule \"IsNext iff B repeats >= {bestK} of A's rarer tokens\" (rare = outside the {common} most frequent ids): {bestTrain:P1}");
        Console.WriteLine($"validation: majority label {majority:P1}; the overlap rule {valAcc:P1}");
        return 0;
    }

    private static double Accuracy(int[] shared, bool[] random, int k)
    {
        int right = 0;
        for (int i = 0; i < shared.Length; i++) right += (shared[i] >= k) == !random[i] ? 1 : 0;
        return right / (double)shared.Length;
    }

    /// <summary>A and B of an item as token ids (no masking), trimmed as the batch writer trims them.</summary>
    private static (int[] A, int[] B, bool Random) Segments(PretrainingDataset d, in PretrainingItem item, int[] scratch)
    {
        var a = new int[item.LengthA];
        var b = new int[item.LengthB];
        d.CopyTokens(item.DocumentA, item.FirstA, item.TrimAFront, a, scratch);
        d.CopyTokens(item.DocumentB, item.FirstB, item.TrimBFront, b, scratch);
        return (a, b, item.IsRandomNext);
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
