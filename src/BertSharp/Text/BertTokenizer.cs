namespace BertSharp.Text;

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
