using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>Text → [CLS] head…tail [SEP] with a BERT tokenizer (one instance per thread: the tokenizer caches).</summary>
public sealed class ClassificationEncoder
{
    private readonly BertTokenizer _tokenizer;
    private readonly List<int> _ids = new(1024);

    /// <summary>An encoder with <paramref name="vocabulary"/>'s tokenizer (<paramref name="lowerCase"/>: uncased) for sequences
    /// of at most <paramref name="maxLength"/> tokens, [CLS] and [SEP] included, keeping <paramref name="headTokens"/>
    /// from the start of a long text (default: <see cref="HeadTailTruncation.DefaultHeadTokens"/>) and the rest from its end.
    /// Throws <see cref="ArgumentException"/> for a length below 3 or a head outside [0, maxLength − 2].</summary>
    public ClassificationEncoder(Vocabulary vocabulary, bool lowerCase, int maxLength, int? headTokens = null)
    {
        if (maxLength < 3) throw new ArgumentException($"max length must be at least 3 ([CLS] text [SEP]), got {maxLength}");
        _tokenizer = new BertTokenizer(vocabulary, lowerCase);
        MaxLength = maxLength;
        HeadTokens = headTokens ?? HeadTailTruncation.DefaultHeadTokens(maxLength);
        if (HeadTokens < 0 || HeadTokens > maxLength - 2)
            throw new ArgumentException($"head tokens must be in [0, {maxLength - 2}] for max length {maxLength}, got {HeadTokens}");
    }

    /// <summary>Longest sequence, [CLS] and [SEP] included.</summary>
    public int MaxLength { get; }
    /// <summary>Tokens kept from the start of a text too long to keep whole (the rest come from its end).</summary>
    public int HeadTokens { get; }
    /// <summary>The vocabulary the tokenizer maps to.</summary>
    public Vocabulary Vocabulary => _tokenizer.Vocabulary;

    /// <summary>Tokenizes <paramref name="text"/> and keeps its head and tail within <see cref="MaxLength"/> − 2 tokens;
    /// <paramref name="label"/> is carried along (−1: none).</summary>
    public LabelledExample Encode(string text, int label = -1)
    {
        _ids.Clear();
        _tokenizer.Encode(text, _ids);
        return new LabelledExample(HeadTailTruncation.Apply(_ids, MaxLength - 2, HeadTokens), label, _ids.Count);
    }

    /// <summary>Tokenizes <paramref name="texts"/> on all cores (one tokenizer per worker); order is kept.</summary>
    public static LabelledExample[] EncodeAll(IReadOnlyList<(string Text, int Label)> texts, Vocabulary vocabulary, bool lowerCase,
        int maxLength, int? headTokens = null)
    {
        var result = new LabelledExample[texts.Count];
        Parallel.For(0, texts.Count, () => new ClassificationEncoder(vocabulary, lowerCase, maxLength, headTokens),
            (i, _, enc) => { result[i] = enc.Encode(texts[i].Text, texts[i].Label); return enc; }, _ => { });
        return result;
    }
}
