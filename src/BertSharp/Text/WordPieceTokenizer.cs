namespace BertSharp.Text;

/// <summary>
/// WordPiece encoding: greedy longest-match-first over a word's code points, continuation pieces
/// prefixed <c>##</c>. A word longer than <see cref="MaxInputCharsPerWord"/> code points, or with a
/// remainder no piece matches, becomes a single [UNK]. Stateless and thread-safe.
/// </summary>
public sealed class WordPieceTokenizer
{
    /// <summary>HuggingFace's limit (Google's tokenization.py uses 200): the tokenizers most people load
    /// our vocabularies with cut at 100, and a 101..200-char "word" is a URL or a run of one character.</summary>
    public const int DefaultMaxInputCharsPerWord = 100;

    /// <summary>A WordPiece encoder over <paramref name="vocabulary"/>; words of more than <paramref
    /// name="maxInputCharsPerWord"/> code points become [UNK].</summary>
    public WordPieceTokenizer(Vocabulary vocabulary, int maxInputCharsPerWord = DefaultMaxInputCharsPerWord)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInputCharsPerWord, 1);
        Vocabulary = vocabulary;
        MaxInputCharsPerWord = maxInputCharsPerWord;
    }

    /// <summary>The vocabulary pieces come from.</summary>
    public Vocabulary Vocabulary { get; }
    /// <summary>Longest word (in code points) that is split into pieces; longer ones become [UNK].</summary>
    public int MaxInputCharsPerWord { get; }

    /// <summary>Appends the ids of one word (a basic-tokenizer output) to <paramref name="ids"/>; returns
    /// how many it appended.</summary>
    public int Encode(ReadOnlySpan<char> word, List<int> ids)
    {
        int unk = Vocabulary.SpecialIds.Unk;
        if (word.Length > MaxInputCharsPerWord && CodePointCount(word) > MaxInputCharsPerWord)
        {
            ids.Add(unk);
            return 1;
        }
        int first = ids.Count;
        int maxPiece = Vocabulary.MaxTokenChars;
        for (int start = 0; start < word.Length;)
        {
            int end = Math.Min(word.Length, start + maxPiece);
            int found = -1;
            while (end > start)
            {
                // Never end inside a surrogate pair: Python slices code points.
                if (end < word.Length && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) { end--; continue; }
                var piece = word[start..end];
                if (start == 0 ? Vocabulary.TryGetId(piece, out found) : Vocabulary.TryGetContinuationId(piece, out found))
                    break;
                found = -1;
                end--;
            }
            if (found < 0)
            {
                ids.RemoveRange(first, ids.Count - first);
                ids.Add(unk);
                return 1;
            }
            ids.Add(found);
            start = end;
        }
        return ids.Count - first;
    }

    private static int CodePointCount(ReadOnlySpan<char> s)
    {
        int n = s.Length;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { n--; i++; }
        return n;
    }
}

/// <summary>
/// The full BERT tokenizer: basic tokenizer then WordPiece, with a per-instance cache of word → ids
/// (review text repeats a few tens of thousands of words). Not thread-safe: one instance per thread.
/// </summary>
public sealed class BertTokenizer
{
    private const int CacheLimit = 1 << 18;
    private readonly BasicTokenizer _basic;
    private readonly WordPieceTokenizer _wordPiece;
    private readonly WordList _words = new();
    private readonly List<int> _pieces = new(32);
    // Word → its ids, as table index → a slice of _cacheIds.
    private readonly WordTable _cache = new(1 << 14);
    private int[] _cacheStart = new int[1 << 14];
    private int[] _cacheLength = new int[1 << 14];
    private int[] _cacheIds = new int[1 << 16];
    private int _cacheIdCount;

    /// <summary>A tokenizer over <paramref name="vocabulary"/>; <paramref name="lowerCase"/> for uncased models (HF's
    /// <c>do_lower_case</c>).</summary>
    public BertTokenizer(Vocabulary vocabulary, bool lowerCase = true,
        int maxInputCharsPerWord = WordPieceTokenizer.DefaultMaxInputCharsPerWord)
    {
        Vocabulary = vocabulary;
        _basic = new BasicTokenizer(lowerCase, Vocabulary.DefaultSpecialTokens);
        _wordPiece = new WordPieceTokenizer(vocabulary, maxInputCharsPerWord);
    }

    /// <summary>The vocabulary ids come from.</summary>
    public Vocabulary Vocabulary { get; }
    /// <summary>True for an uncased tokenizer.</summary>
    public bool LowerCase => _basic.LowerCase;
    /// <summary>Longest word (in code points) that is split into pieces.</summary>
    public int MaxInputCharsPerWord => _wordPiece.MaxInputCharsPerWord;

    /// <summary>Words seen by the last <see cref="Encode(ReadOnlySpan{char}, List{int})"/> call (basic-tokenizer words).</summary>
    public int LastWordCount { get; private set; }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>; returns the count appended.</summary>
    public int Encode(ReadOnlySpan<char> text, List<int> ids)
    {
        _words.Clear();
        _basic.Tokenize(text, _words);
        LastWordCount = _words.Count;
        int before = ids.Count;
        for (int w = 0; w < _words.Count; w++)
        {
            var word = _words[w];
            int e = _cache.Find(word);
            if (e >= 0)
            {
                if (_cacheLength[e] == 1) ids.Add(_cacheIds[_cacheStart[e]]);
                else ids.AddRange(_cacheIds.AsSpan(_cacheStart[e], _cacheLength[e]));
                continue;
            }
            _pieces.Clear();
            if (word.Length > 0 && word[0] == '[' && Vocabulary.TryGetId(word, out int special) && Vocabulary.SpecialIds.IsSpecial(special))
                _pieces.Add(special);
            else
                _wordPiece.Encode(word, _pieces);
            ids.AddRange(_pieces);
            Remember(word, _pieces);
        }
        return ids.Count - before;
    }

    private void Remember(ReadOnlySpan<char> word, List<int> pieces)
    {
        if (_cache.Count >= CacheLimit || _cache.CharCount > CacheLimit * 16)
        {
            _cache.Clear();
            _cacheIdCount = 0;
        }
        int e = _cache.GetOrAdd(word, out _);
        if (e >= _cacheStart.Length)
        {
            Array.Resize(ref _cacheStart, _cacheStart.Length * 2);
            Array.Resize(ref _cacheLength, _cacheLength.Length * 2);
        }
        if (_cacheIdCount + pieces.Count > _cacheIds.Length)
            Array.Resize(ref _cacheIds, Math.Max(_cacheIds.Length * 2, _cacheIdCount + pieces.Count));
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pieces).CopyTo(_cacheIds.AsSpan(_cacheIdCount));
        _cacheStart[e] = _cacheIdCount;
        _cacheLength[e] = pieces.Count;
        _cacheIdCount += pieces.Count;
    }

    /// <summary>The ids of <paramref name="text"/> (no [CLS]/[SEP] added).</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        Encode(text, ids);
        return ids;
    }

    /// <summary>The wordpieces of <paramref name="text"/> as strings (for display and tests).</summary>
    public List<string> Tokenize(string text) => Encode(text).Select(id => Vocabulary[id]).ToList();
}
