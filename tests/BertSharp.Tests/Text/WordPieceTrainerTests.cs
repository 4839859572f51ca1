using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class WordPieceTrainerTests
{
    private static List<CorpusDocument> Docs(params string[] texts) =>
        texts.Select((t, i) => new CorpusDocument(t, TextKind.Paragraphs, new DocumentInfo(0, -1, 0), $"doc{i}")).ToList();

    /// <summary>A deterministic pseudo-corpus with a Zipf-like word distribution and shared stems.</summary>
    private static List<CorpusDocument> SyntheticCorpus(int documents, int seed)
    {
        var rng = new Random(seed);
        string[] stems = ["play", "run", "watch", "act", "direct", "love", "hate", "film", "movie", "scene", "stor", "charact", "music", "end", "start"];
        string[] suffixes = ["", "s", "ing", "ed", "er", "ers", "y", "ly", "ful", "less", "ness"];
        var docs = new List<string>();
        for (int d = 0; d < documents; d++)
        {
            var words = new List<string>();
            int n = 20 + rng.Next(60);
            for (int w = 0; w < n; w++)
            {
                int s = (int)(stems.Length * Math.Pow(rng.NextDouble(), 2));
                words.Add(stems[s] + suffixes[rng.Next(suffixes.Length)] + (rng.Next(20) == 0 ? "!" : ""));
                if (rng.Next(15) == 0) words.Add("Café");
            }
            docs.Add(string.Join(' ', words) + ".");
        }
        return Docs(docs.ToArray());
    }

    [Fact]
    public void CountsWordsTheSameWithAnyThreadCount()
    {
        var corpus = SyntheticCorpus(600, 1);
        var one = WordPieceTrainer.CountWords(corpus, lowerCase: true, threads: 1);
        var three = WordPieceTrainer.CountWords(corpus, lowerCase: true, threads: 3);
        Assert.Equal(one.Words, three.Words);
        Assert.Equal(one.Counts, three.Counts);
        Assert.Contains("cafe", one.Words);           // uncased: accents stripped
        Assert.DoesNotContain("[CLS]", WordPieceTrainer.CountWords(Docs("a [CLS] b"), true).Words);
    }

    [Fact]
    public void TrainingIsDeterministicAndThreadIndependent()
    {
        var corpus = SyntheticCorpus(600, 2);
        var options = new VocabularyTrainingOptions { VocabSize = 150, Threads = 1 };
        var a = WordPieceTrainer.Train(corpus, options);
        var b = WordPieceTrainer.Train(corpus, options with { Threads = 4 });
        var c = WordPieceTrainer.Train(SyntheticCorpus(600, 2), options with { Threads = 2 });
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Tokens, c.Tokens);
        Assert.Equal(150, a.Count);
        Assert.Equal(Vocabulary.DefaultSpecialTokens, a.Tokens.Take(5));
        Assert.Equal(a.Count, a.Tokens.Distinct().Count());
        // The frequent stems are learned as whole tokens, and the trained vocabulary encodes without [UNK].
        Assert.Contains("play", a.Tokens);
        Assert.Contains("##ing", a.Tokens);
        var tok = new BertTokenizer(a);
        Assert.DoesNotContain(a.SpecialIds.Unk, tok.Encode("playing movies lovely endless"));
    }

    [Fact]
    public void MergesFollowPairFrequencyWithAFixedTieBreak()
    {
        // "ab" ×5, "abc" ×3, "d" ×2: the top pair is (a, ##b) with 8, then (ab, ##c) with 3.
        var words = new WordCounts(["ab", "abc", "d"], [5, 3, 2]);
        var v = WordPieceTrainer.Train(words, new VocabularyTrainingOptions { VocabSize = 5 + 8 + 2, MinFrequency = 1 });
        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "##a", "##b", "##c", "##d", "ab", "abc"], v.Tokens);
        // Ties go to the pair with the smaller ids: (x, ##y) before (y, ##x) at equal counts.
        var tie = WordPieceTrainer.Train(new WordCounts(["xy", "yx"], [4, 4]), new VocabularyTrainingOptions { VocabSize = 5 + 4 + 1, MinFrequency = 1 });
        Assert.Equal("xy", tie.Tokens[^1]);
        // Minimum frequency stops the merges.
        var rare = WordPieceTrainer.Train(words, new VocabularyTrainingOptions { VocabSize = 100, MinFrequency = 4 });
        Assert.Equal(["ab"], rare.Tokens.Skip(13));
    }

    [Fact]
    public void RespectsTheAlphabetLimitAndRejectsTooSmallVocabularies()
    {
        var words = new WordCounts(["aaa", "bb", "c"], [10, 5, 1]);
        var v = WordPieceTrainer.Train(words, new VocabularyTrainingOptions { VocabSize = 9, LimitAlphabet = 2, MinFrequency = 1 });
        Assert.Equal(["a", "b", "##a", "##b"], v.Tokens.Skip(5).Take(4));
        Assert.DoesNotContain("c", v.Tokens);
        var e = Assert.Throws<ArgumentException>(() => WordPieceTrainer.Train(words, new VocabularyTrainingOptions { VocabSize = 8 }));
        Assert.Contains("smaller than the 5 special tokens plus the alphabet of 3 characters", e.Message);
        Assert.Throws<InvalidDataException>(() => WordPieceTrainer.Train(Docs("  ", "!!"[..0]), new VocabularyTrainingOptions()));
    }

    [Fact]
    public void WordLevelKeepsTheMostFrequentWords()
    {
        var words = new WordCounts(["apple", "banana", "cherry", "date"], [5, 9, 5, 1]);
        var v = WordPieceTrainer.Train(words, new VocabularyTrainingOptions { VocabSize = 8, WordLevel = true, MinFrequency = 2 });
        Assert.Equal(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "banana", "apple", "cherry"], v.Tokens);
        Assert.Equal(["banana", "[UNK]", "[UNK]"], new BertTokenizer(v).Tokenize("banana bananas date"));
    }
}
