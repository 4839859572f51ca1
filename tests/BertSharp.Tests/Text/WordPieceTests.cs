using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class WordPieceTests
{
    private static List<string> Pieces(Vocabulary v, string word, int maxChars = 100)
    {
        var ids = new List<int>();
        new WordPieceTokenizer(v, maxChars).Encode(word, ids);
        return ids.Select(i => v[i]).ToList();
    }

    [Fact]
    public void GreedyLongestMatchFirstWithContinuations()
    {
        var v = TextTestSupport.SmallVocab("un", "una", "##aff", "##a", "##ff", "##able", "aff", "##ffable");
        // "una" is longer than "un", so it wins even though "un ##affable" would also cover the word.
        Assert.Equal(["una", "##ffable"], Pieces(v, "unaffable"));
        // A continuation never matches a word-initial entry and vice versa.
        Assert.Equal(["aff", "##able"], Pieces(v, "affable"));
        Assert.Equal(["[UNK]"], Pieces(v, "able"));
    }

    [Fact]
    public void AnUnmatchedRemainderMakesTheWholeWordUnknown()
    {
        var v = TextTestSupport.SmallVocab("play", "##ing", "##s");
        Assert.Equal(["play", "##ing"], Pieces(v, "playing"));
        Assert.Equal(["[UNK]"], Pieces(v, "playingz"));   // "z" has no ## piece
        Assert.Equal(["[UNK]"], Pieces(v, "zplay"));      // no initial piece
    }

    [Fact]
    public void WordsLongerThanTheLimitInCodePointsAreUnknown()
    {
        var v = TextTestSupport.SmallVocab("a", "##a", "😀", "##😀");
        Assert.Equal(100, Pieces(v, new string('a', 100)).Count);
        Assert.Equal(["[UNK]"], Pieces(v, new string('a', 101)));
        // 100 emoji are 200 UTF-16 chars but 100 code points: within the limit, as in Python.
        var emoji = string.Concat(Enumerable.Repeat("😀", 100));
        Assert.Equal(100, Pieces(v, emoji).Count);
        Assert.Equal(["[UNK]"], Pieces(v, emoji + "😀"));
        Assert.Equal(["[UNK]"], Pieces(v, new string('a', 11), maxChars: 10));
    }

    [Fact]
    public void NeverCutsASurrogatePair()
    {
        // "\uD83D" alone (the high half of 😀) is in the vocabulary: a UTF-16 greedy match would take it.
        var v = TextTestSupport.SmallVocab("x", "\uD83D", "##\uDE00", "##😀");
        Assert.Equal(["x", "##😀"], Pieces(v, "x😀"));
        Assert.Equal(["[UNK]"], Pieces(v, "😀x"));
    }

    [Fact]
    public void BertTokenizerKeepsSpecialTokensAndCachesConsistently()
    {
        var v = TextTestSupport.SmallVocab("hello", "world", "##s", "!");
        var t = new BertTokenizer(v);
        Assert.Equal(["[CLS]", "hello", "world", "##s", "!", "[SEP]"], t.Tokenize("[CLS] Hello worlds![SEP]"));
        Assert.Equal(["hello", "world", "##s"], t.Tokenize("HELLO worlds")); // second time from the cache
        Assert.Equal([2, 5, 3], t.Encode("[CLS]hello[SEP]"));
    }

    [Fact]
    public void LoadsAPublishedVocabularyLayout()
    {
        using var dir = new TextTestSupport.TempDir();
        // bert-base-uncased: [PAD] 0, [unused0..98] 1..99, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103.
        var lines = new List<string> { "[PAD]" };
        for (int i = 0; i < 99; i++) lines.Add($"[unused{i}]");
        lines.AddRange(["[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"]);
        File.WriteAllText(dir["vocab.txt"], string.Join("\n", lines) + "\n");
        var v = Vocabulary.Load(dir["vocab.txt"]);
        Assert.Equal(new SpecialTokenIds(0, 100, 101, 102, 103), v.SpecialIds);
        Assert.Equal(106, v.Count);
        Assert.Equal([101, 104, 105, 100, 102], new BertTokenizer(v).Encode("[CLS] thes zzz [SEP]"));
    }

    [Fact]
    public void RejectsAVocabularyWithoutSpecialTokens()
    {
        using var dir = new TextTestSupport.TempDir();
        File.WriteAllText(dir["vocab.txt"], "[PAD]\n[UNK]\nthe\n");
        var e = Assert.Throws<InvalidDataException>(() => Vocabulary.Load(dir["vocab.txt"]));
        Assert.Contains("[CLS] [SEP] [MASK]", e.Message);
        Assert.Contains("vocab.txt", e.Message);
        Assert.Throws<FileNotFoundException>(() => Vocabulary.Load(dir["missing.txt"]));
        File.WriteAllBytes(dir["bin.txt"], [0x5B, 0x00, 0x01, 0xFF]);
        Assert.Throws<InvalidDataException>(() => Vocabulary.Load(dir["bin.txt"]));
    }

    [Fact]
    public void SaveWritesOneTokenPerLineAndRoundTrips()
    {
        using var dir = new TextTestSupport.TempDir();
        var v = TextTestSupport.SmallVocab("é", "##😀", "中");
        v.Save(dir["v.txt"]);
        Assert.Equal("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\né\n##😀\n中\n", File.ReadAllText(dir["v.txt"]));
        Assert.Equal(v.Tokens, Vocabulary.Load(dir["v.txt"]).Tokens);
        Assert.Equal(v.Sha256, Vocabulary.Load(dir["v.txt"]).Sha256);
        Assert.False(File.Exists(dir["v.txt.tmp"]));
    }
}
