using System.Runtime.InteropServices;

namespace BertSharp.Text;

/// <summary>
/// Trains a BERT vocabulary. WordPiece mode is HuggingFace's WordPieceTrainer algorithm: BPE merges
/// over word types where every non-initial symbol carries the <c>##</c> prefix; each step merges the
/// most frequent adjacent pair (ties: the smaller left id, then the smaller right id), with incremental
/// pair counts and a lazy max-heap. Deterministic, and independent of the thread count (threads only
/// count words; sums do not depend on order). Word-level mode keeps the most frequent whole words.
/// </summary>
public static class WordPieceTrainer
{
    /// <summary>Counts basic-tokenizer words over the corpus on all cores (special tokens are not counted).</summary>
    public static WordCounts CountWords(IEnumerable<CorpusDocument> documents, bool lowerCase, int threads = 0,
        CancellationToken cancel = default)
    {
        var specials = new HashSet<string>(Vocabulary.DefaultSpecialTokens, StringComparer.Ordinal);
        var states = CorpusWorkers.Run(documents, threads > 0 ? threads : Environment.ProcessorCount,
            () => new CountState(lowerCase),
            (state, batch) =>
            {
                foreach (var doc in batch)
                {
                    state.Words.Clear();
                    int length = doc.CleanInto(ref state.Text); // may replace state.Text: read it after
                    state.Basic.Tokenize(state.Text.AsSpan(0, length), state.Words);
                    for (int i = 0; i < state.Words.Count; i++)
                    {
                        var w = state.Words[i];
                        if (w[0] == '[' && specials.Contains(w.ToString())) continue;
                        int e = state.Table.GetOrAdd(w, out bool added);
                        if (added && e == state.Counts.Length) Array.Resize(ref state.Counts, e * 2);
                        state.Counts[e]++;
                    }
                }
                return 0;
            },
            _ => { }, cancel);
        var total = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var s in states)
            for (int e = 0; e < s.Table.Count; e++)
                CollectionsMarshal.GetValueRefOrAddDefault(total, new string(s.Table[e]), out _) += s.Counts[e];
        var words = total.Keys.ToArray();
        Array.Sort(words, StringComparer.Ordinal);
        var counts = new long[words.Length];
        for (int i = 0; i < words.Length; i++) counts[i] = total[words[i]];
        return new WordCounts(words, counts);
    }

    private sealed class CountState
    {
        public readonly BasicTokenizer Basic;
        public readonly WordList Words = new();
        public char[] Text = new char[1 << 14];
        public readonly WordTable Table = new(1 << 16);
        public long[] Counts = new long[1 << 16];

        public CountState(bool lowerCase) => Basic = new BasicTokenizer(lowerCase);
    }

    /// <summary>Trains from word counts. Throws <see cref="ArgumentException"/> when the vocabulary size cannot hold
    /// the special tokens and the alphabet, <see cref="InvalidDataException"/> when there are no words.</summary>
    public static Vocabulary Train(WordCounts counts, VocabularyTrainingOptions options)
    {
        if (counts.Words.Length == 0) throw new InvalidDataException("the corpus has no words to train on");
        int specials = Vocabulary.DefaultSpecialTokens.Count;
        if (options.VocabSize <= specials) throw new ArgumentException($"vocab size {options.VocabSize} leaves no room after the {specials} special tokens");
        return options.WordLevel ? TrainWordLevel(counts, options) : TrainWordPiece(counts, options);
    }

    private static Vocabulary TrainWordLevel(WordCounts counts, VocabularyTrainingOptions o)
    {
        var order = Enumerable.Range(0, counts.Words.Length)
            .Where(i => counts.Counts[i] >= o.MinFrequency)
            .OrderByDescending(i => counts.Counts[i]).ThenBy(i => i) // words are in ordinal order already
            .Take(o.VocabSize - Vocabulary.DefaultSpecialTokens.Count);
        return Vocabulary.FromTokens(Vocabulary.DefaultSpecialTokens.Concat(order.Select(i => counts.Words[i])), "trained vocabulary");
    }

    private static Vocabulary TrainWordPiece(WordCounts wc, VocabularyTrainingOptions o)
    {
        // 1. The alphabet: characters weighted by word frequency, the rarest dropped beyond the limit.
        var charCounts = new Dictionary<int, long>();
        for (int w = 0; w < wc.Words.Length; w++)
            foreach (var rune in wc.Words[w].EnumerateRunes())
                CollectionsMarshal.GetValueRefOrAddDefault(charCounts, rune.Value, out _) += wc.Counts[w];
        var alphabet = charCounts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key)
            .Take(Math.Max(1, o.LimitAlphabet)).Select(kv => kv.Key).Order().ToArray();
        int needed = Vocabulary.DefaultSpecialTokens.Count + 2 * alphabet.Length;
        if (o.VocabSize < needed)
            throw new ArgumentException($"vocab size {o.VocabSize} is smaller than the {Vocabulary.DefaultSpecialTokens.Count} special tokens plus the alphabet of {alphabet.Length} characters with their ## forms ({needed}); raise the vocab size or lower the alphabet limit");

        // 2. Initial symbols: specials, each character, each character as a continuation.
        // Sized by what the merges can make, not by the size asked for: a VocabSize of int.MaxValue means "as many as
        // the corpus gives", not an allocation of that many entries.
        var tokens = new List<string>(Math.Min(o.VocabSize, needed + 4096));
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        void AddToken(string t) { ids[t] = tokens.Count; tokens.Add(t); }
        foreach (var s in Vocabulary.DefaultSpecialTokens) AddToken(s);
        var initial = new Dictionary<int, int>();
        var continuation = new Dictionary<int, int>();
        foreach (int cp in alphabet) { initial[cp] = tokens.Count; AddToken(char.ConvertFromUtf32(cp)); }
        foreach (int cp in alphabet) { continuation[cp] = tokens.Count; AddToken("##" + char.ConvertFromUtf32(cp)); }

        // 3. Every word as a symbol sequence (characters outside the alphabet are skipped, as HuggingFace does).
        int n = wc.Words.Length;
        var symbols = new int[n][];
        var lengths = new int[n];
        var scratch = new List<int>(64);
        for (int w = 0; w < n; w++)
        {
            scratch.Clear();
            bool first = true;
            foreach (var rune in wc.Words[w].EnumerateRunes())
            {
                if ((first ? initial : continuation).TryGetValue(rune.Value, out int id)) scratch.Add(id);
                first = false;
            }
            symbols[w] = scratch.ToArray();
            lengths[w] = scratch.Count;
        }

        // 4. Pair counts and, per pair, the words that contain it (may hold duplicates and stale entries).
        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, List<int>>();
        for (int w = 0; w < n; w++)
        {
            var s = symbols[w];
            long c = wc.Counts[w];
            for (int j = 0; j + 1 < lengths[w]; j++)
            {
                long p = Pair(s[j], s[j + 1]);
                CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, p, out _) += c;
                ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(where, p, out bool exists);
                if (!exists) list = [];
                if (list!.Count == 0 || list[^1] != w) list.Add(w);
            }
        }
        var queue = new PriorityQueue<long, (long Count, long Pair)>(pairCounts.Count, HeapOrder.Instance);
        foreach (var (p, c) in pairCounts) queue.Enqueue(p, (c, p));

        // 5. Merge until the vocabulary is full or the best pair is too rare.
        var visited = new int[n];
        Array.Fill(visited, -1);
        var changed = new Dictionary<long, long>();
        var gained = new List<(long Pair, int Word)>();
        int step = 0;
        while (tokens.Count < o.VocabSize && queue.TryDequeue(out long pair, out var prio))
        {
            long current = pairCounts.GetValueOrDefault(pair);
            if (current != prio.Count)
            {
                if (current > 0) queue.Enqueue(pair, (current, pair));
                continue;
            }
            if (current < Math.Max(1, o.MinFrequency)) break;
            int a = (int)(pair >> 32), b = (int)pair;
            string merged = tokens[a] + tokens[b][2..]; // b is always a ## continuation
            if (!ids.TryGetValue(merged, out int newId)) { newId = tokens.Count; AddToken(merged); }
            changed.Clear();
            gained.Clear();
            foreach (int w in where[pair])
            {
                if (visited[w] == step) continue;
                visited[w] = step;
                MergeWord(w, symbols[w], ref lengths[w], a, b, newId, wc.Counts[w], changed, gained);
            }
            pairCounts.Remove(pair);
            where.Remove(pair);
            foreach (var (p, delta) in changed)
            {
                if (delta == 0) continue;
                ref long count = ref CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, p, out _);
                count += delta;
                if (count <= 0) { pairCounts.Remove(p); continue; }
                if (delta > 0) queue.Enqueue(p, (count, p));
            }
            foreach (var (p, w) in gained)
            {
                ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(where, p, out bool exists);
                if (!exists) list = [];
                if (list!.Count == 0 || list[^1] != w) list.Add(w);
            }
            step++;
        }
        return Vocabulary.FromTokens(tokens, "trained vocabulary");
    }

    /// <summary>Merges every (a, b) in one word left to right, recording the pair count changes × the word's count.</summary>
    private static void MergeWord(int word, int[] s, ref int length, int a, int b, int merged, long count,
        Dictionary<long, long> changed, List<(long Pair, int Word)> gained)
    {
        for (int i = 0; i + 1 < length; i++)
        {
            if (s[i] != a || s[i + 1] != b) continue;
            if (i > 0)
            {
                Add(changed, Pair(s[i - 1], a), -count);
                Add(changed, Pair(s[i - 1], merged), count);
                gained.Add((Pair(s[i - 1], merged), word));
            }
            if (i + 2 < length)
            {
                Add(changed, Pair(b, s[i + 2]), -count);
                Add(changed, Pair(merged, s[i + 2]), count);
                gained.Add((Pair(merged, s[i + 2]), word));
            }
            s[i] = merged;
            Array.Copy(s, i + 2, s, i + 1, length - i - 2);
            length--;
        }
    }

    private static void Add(Dictionary<long, long> d, long key, long delta) =>
        CollectionsMarshal.GetValueRefOrAddDefault(d, key, out _) += delta;

    private static long Pair(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Max-heap by count; on ties the smaller pair (left id, then right id) first.</summary>
    private sealed class HeapOrder : IComparer<(long Count, long Pair)>
    {
        public static readonly HeapOrder Instance = new();
        public int Compare((long Count, long Pair) x, (long Count, long Pair) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Pair.CompareTo(y.Pair);
    }

    /// <summary>Counts words in <paramref name="documents"/> and trains; the convenience used by the CLI.</summary>
    public static Vocabulary Train(IEnumerable<CorpusDocument> documents, VocabularyTrainingOptions options, CancellationToken cancel = default) =>
        Train(CountWords(documents, options.LowerCase, options.Threads, cancel), options);
}
