using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>Text → [CLS] head…tail [SEP] with a BERT tokenizer (one instance per thread: the tokenizer caches).</summary>
public sealed class ClassificationEncoder
{
    private readonly BertTokenizer _tokenizer;
    private readonly List<int> _ids = new(1024);

    public ClassificationEncoder(Vocabulary vocabulary, bool lowerCase, int maxLength, int? headTokens = null)
    {
        if (maxLength < 3) throw new ArgumentException($"max length must be at least 3 ([CLS] text [SEP]), got {maxLength}");
        _tokenizer = new BertTokenizer(vocabulary, lowerCase);
        MaxLength = maxLength;
        HeadTokens = headTokens ?? HeadTailTruncation.DefaultHeadTokens(maxLength);
        if (HeadTokens < 0 || HeadTokens > maxLength - 2)
            throw new ArgumentException($"head tokens must be in [0, {maxLength - 2}] for max length {maxLength}, got {HeadTokens}");
    }

    public int MaxLength { get; }
    public int HeadTokens { get; }
    public Vocabulary Vocabulary => _tokenizer.Vocabulary;

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
