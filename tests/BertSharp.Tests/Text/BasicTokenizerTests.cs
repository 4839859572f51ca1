using System.Text.Json;
using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class BasicTokenizerTests
{
    private sealed record Case(string Text, string[] Uncased, string[] Cased, string[] UncasedWordpiece, string[] CasedWordpiece);

    private static (string[] Vocab, List<Case> Cases) LoadFixture()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TextTestSupport.Fixture("tokenizer_cases.json")));
        var root = doc.RootElement;
        var vocab = root.GetProperty("vocab").EnumerateArray().Select(e => e.GetString()!).ToArray();
        string[] Arr(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetString()!).ToArray();
        var cases = root.GetProperty("cases").EnumerateArray()
            .Select(e => new Case(e.GetProperty("text").GetString()!, Arr(e, "uncased"), Arr(e, "cased"), Arr(e, "uncased_wordpiece"), Arr(e, "cased_wordpiece")))
            .ToList();
        return (vocab, cases);
    }

    /// <summary>Every case of the fixture (tools/text/make_tokenizer_cases.py: Python's own lower(), split() and
    /// unicodedata following tokenization.py's rules) tokenizes the same here, cased and uncased, basic and WordPiece.</summary>
    [Fact]
    public void MatchesThePythonReferenceOnEveryFixtureCase()
    {
        var (vocabTokens, cases) = LoadFixture();
        Assert.True(cases.Count > 350);
        var vocab = Vocabulary.FromTokens(vocabTokens);
        var uncased = new BasicTokenizer(lowerCase: true);
        var cased = new BasicTokenizer(lowerCase: false);
        var bertUncased = new BertTokenizer(vocab, lowerCase: true);
        var bertCased = new BertTokenizer(vocab, lowerCase: false);
        var failures = new List<string>();
        foreach (var c in cases)
        {
            void Check(string what, IEnumerable<string> expected, IEnumerable<string> actual)
            {
                if (!expected.SequenceEqual(actual))
                    failures.Add($"{what} {JsonSerializer.Serialize(c.Text)}: expected [{string.Join(" | ", expected)}] got [{string.Join(" | ", actual)}]");
            }
            Check("uncased", c.Uncased, uncased.Tokenize(c.Text));
            Check("cased", c.Cased, cased.Tokenize(c.Text));
            Check("uncased wordpiece", c.UncasedWordpiece, bertUncased.Tokenize(c.Text));
            Check("cased wordpiece", c.CasedWordpiece, bertCased.Tokenize(c.Text));
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [Theory]
    // Accents: stripped only in uncased mode.
    [InlineData("Café Déjà vu", true, "cafe deja vu")]
    [InlineData("Café Déjà vu", false, "Café Déjà vu")]
    // CJK ideographs become words of their own; kana and Hangul do not.
    [InlineData("日本語のテキスト", true, "日 本 語 のテキスト")]
    // Emoji are neither punctuation nor CJK: they stay attached.
    [InlineData("good😀movie", true, "good😀movie")]
    // Control and format characters vanish without splitting; tab/CR/LF are whitespace.
    [InlineData("a\u200bb\u0000c\td\re\nf", true, "abc d e f")]
    // Every Unicode P* character is split off, as are the ASCII symbol ranges ($ + < = > ^ ` | ~).
    [InlineData("«a»¿b?¡c!—d…e", true, "« a » ¿ b ? ¡ c ! — d … e")]
    [InlineData("1+1=2 a|b <c>", true, "1 + 1 = 2 a | b < c >")]
    // Non-ASCII symbols (S*) are not punctuation: € and © stay in the word.
    [InlineData("5€ ©2020", true, "5€ ©2020")]
    // Mixed scripts in one word are not split.
    [InlineData("Привет123hello", true, "привет123hello")]
    // Special tokens are never split or lowercased, wherever they are.
    [InlineData("Is [MASK] good?[SEP]", true, "is [MASK] good ? [SEP]")]
    public void TokenizesTrickyInputs(string text, bool lower, string expected)
    {
        Assert.Equal(expected.Split(' '), new BasicTokenizer(lower).Tokenize(text));
    }

    [Fact]
    public void HandlesSurrogatePairsAsCodePoints()
    {
        // U+20000 is a CJK Extension B ideograph (a surrogate pair in UTF-16): its own word.
        Assert.Equal(["a", "\U00020000", "b"], new BasicTokenizer().Tokenize("a\U00020000b"));
        // U+1D400 (mathematical bold A) is an uppercase letter with no lowercase mapping in Python.
        Assert.Equal(["\U0001D400x"], new BasicTokenizer().Tokenize("\U0001D400X"));
        // A lone surrogate is kept as a character, never merged with its neighbours.
        Assert.Equal(["a\uD800b"], new BasicTokenizer().Tokenize("a\uD800b"));
    }
}
