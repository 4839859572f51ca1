using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class TokenizedStoreTests
{
    [Theory]
    [InlineData(1000, 2)]
    [InlineData(70000, 4)]
    public void RoundTripsExactly(int vocabSize, int idBytes)
    {
        using var dir = new TextTestSupport.TempDir();
        var rng = new Random(7);
        var docs = new List<int[][]>();
        var infos = new List<DocumentInfo>();
        using (var w = new TokenizedCorpusWriter(dir.Path, vocabSize))
        {
            for (int d = 0; d < 50; d++)
            {
                var sentences = Enumerable.Range(0, 1 + rng.Next(6)).Select(_ => Enumerable.Range(0, 1 + rng.Next(40)).Select(_ => rng.Next(vocabSize)).ToArray()).ToArray();
                var info = new DocumentInfo(rng.Next(3), rng.Next(3) - 1, rng.Next(11));
                docs.Add(sentences);
                infos.Add(info);
                w.AddDocument(sentences.SelectMany(s => s).ToArray(), sentences.Select(s => s.Length).ToArray(), info);
            }
            w.Complete(new TokenizedCorpusManifest { SplitNames = ["a", "b", "c"], SpecialTokenIds = [0, 1, 2, 3, 4] });
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
        using var store = TokenizedCorpusStore.Open(dir.Path);
        var expected = new InMemoryTokenizedCorpus(vocabSize, docs, infos, ["a", "b", "c"]);
        Assert.Equal(idBytes, store.Manifest.IdBytes);
        Assert.Equal(expected.DocumentCount, store.DocumentCount);
        Assert.Equal(vocabSize, store.VocabSize);
        Assert.Equal(expected.SplitNames, store.SplitNames);
        var buffer = new int[64];
        for (int d = 0; d < expected.DocumentCount; d++)
        {
            Assert.Equal(expected.GetDocumentInfo(d), store.GetDocumentInfo(d));
            Assert.Equal(expected.SentenceCount(d), store.SentenceCount(d));
            for (int s = 0; s < expected.SentenceCount(d); s++)
            {
                Assert.Equal(expected.SentenceLength(d, s), store.SentenceLength(d, s));
                int n = store.CopySentence(d, s, buffer);
                Assert.Equal(docs[d][s], buffer.AsSpan(0, n).ToArray());
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => store.SentenceCount(50));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.SentenceLength(0, docs[0].Length));
        Assert.Throws<ArgumentException>(() => store.CopySentence(0, 0, new int[docs[0][0].Length - 1]));
    }

    [Fact]
    public void AnUnfinishedWriteLeavesNothingThatOpens()
    {
        using var dir = new TextTestSupport.TempDir();
        using (var w = new TokenizedCorpusWriter(dir.Path, 10))
            w.AddDocument([1, 2, 3], [3], new DocumentInfo(0, -1, 0));   // disposed without Complete
        Assert.Empty(Directory.GetFiles(dir.Path));
        Assert.False(TokenizedCorpusStore.IsComplete(dir.Path, out _));
        Assert.Contains("not a tokenized corpus", Assert.Throws<InvalidDataException>(() => TokenizedCorpusStore.Open(dir.Path)).Message);
    }

    [Fact]
    public void RejectsBadDocumentsAndATruncatedStore()
    {
        using var dir = new TextTestSupport.TempDir();
        using (var w = new TokenizedCorpusWriter(dir.Path, 10))
        {
            Assert.Throws<ArgumentException>(() => w.AddDocument([1, 2], [3], default));
            Assert.Throws<ArgumentException>(() => w.AddDocument([], [], default));
            Assert.Throws<ArgumentException>(() => w.AddDocument([10], [1], default));
            w.AddDocument([1, 2, 3], [1, 2], new DocumentInfo(0, -1, 0));
            w.Complete(new TokenizedCorpusManifest { SplitNames = ["all"], SpecialTokenIds = [0, 1, 2, 3, 4] });
        }
        using (var fs = new FileStream(Path.Combine(dir.Path, TokenizedCorpusFiles.Tokens), FileMode.Open)) fs.SetLength(4);
        var e = Assert.Throws<InvalidDataException>(() => TokenizedCorpusStore.Open(dir.Path));
        Assert.Contains("tokens.bin has 4 bytes", e.Message);
    }

    private static void WriteCorpus(string path, int documents)
    {
        using var w = new StreamWriter(path);
        for (int d = 0; d < documents; d++)
            w.Write($"Document {d} starts here. The movie was great! Mr. Smith agreed.\nA second line, with more words.\n\n");
    }

    [Fact]
    public void TokenizesACorpusIndependentlyOfThreadsAndReusesIt()
    {
        using var dir = new TextTestSupport.TempDir();
        WriteCorpus(dir["corpus.txt"], 300);
        File.AppendAllText(dir["corpus.txt"], "\n\n\u200b\u200b\n\n"); // a document with nothing to tokenize
        var vocab = WordPieceTrainer.Train(CorpusReader.Open(dir["corpus.txt"]).ReadDocuments(), new VocabularyTrainingOptions { VocabSize = 120 });
        vocab.Save(dir["vocab.txt"]);
        var one = CorpusTokenizer.Build(CorpusReader.Open(dir["corpus.txt"]), vocab, dir["vocab.txt"], dir["one"], new TokenizeOptions { Threads = 1 });
        var three = CorpusTokenizer.Build(CorpusReader.Open(dir["corpus.txt"]), vocab, dir["vocab.txt"], dir["three"], new TokenizeOptions { Threads = 3 });
        Assert.False(one.Reused);
        foreach (var f in new[] { TokenizedCorpusFiles.Tokens, TokenizedCorpusFiles.Sentences, TokenizedCorpusFiles.Documents })
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir["one"], f)), File.ReadAllBytes(Path.Combine(dir["three"], f)));
        var m = one.Manifest;
        Assert.Equal(300, m.Documents);
        Assert.Equal(1, m.EmptyDocumentsDropped);
        Assert.Equal(300 * 4, m.Sentences);   // "Mr." does not end a sentence; each line is a boundary
        Assert.Equal(vocab.Sha256, m.VocabularySha256);

        using (var store = TokenizedCorpusStore.Open(dir["one"]))
        {
            var tok = new BertTokenizer(vocab);
            var buffer = new int[256];
            int n = store.CopySentence(7, 2, buffer);
            Assert.Equal(tok.Encode("Mr. Smith agreed."), buffer.AsSpan(0, n).ToArray());
            Assert.Equal(vocab.SpecialIds, store.SpecialTokenIds);
        }

        // Same inputs: reused without writing. Changed corpus or settings: rebuilt, when replacing is allowed.
        var again = CorpusTokenizer.Build(CorpusReader.Open(dir["corpus.txt"]), vocab, dir["vocab.txt"], dir["one"], new TokenizeOptions { Threads = 2 });
        Assert.True(again.Reused);
        var cased = CorpusTokenizer.Build(CorpusReader.Open(dir["corpus.txt"]), vocab, dir["vocab.txt"], dir["one"], new TokenizeOptions { LowerCase = false, Replace = true });
        Assert.False(cased.Reused);
        WriteCorpus(dir["corpus.txt"], 301);
        File.SetLastWriteTimeUtc(dir["corpus.txt"], DateTime.UtcNow.AddMinutes(1));
        var changed = CorpusTokenizer.Build(CorpusReader.Open(dir["corpus.txt"]), vocab, dir["vocab.txt"], dir["one"], new TokenizeOptions { Replace = true });
        Assert.False(changed.Reused);
        Assert.Equal(301, changed.Manifest.Documents);
    }

    [Fact]
    public void HandlesDocumentsLargerThanTheWorkersBuffers()
    {
        using var dir = new TextTestSupport.TempDir();
        // 200,000-char documents, far beyond the 16 Ki-char buffers the workers start with.
        var big = string.Concat(Enumerable.Repeat("The movie was great. ", 10_000));
        File.WriteAllText(dir["big.txt"], big + "\n\n" + big + "\n\nShort one.\n");
        var counts = WordPieceTrainer.CountWords(CorpusReader.Open(dir["big.txt"]).ReadDocuments(), lowerCase: true, threads: 2);
        Assert.Equal(20_000, counts.Counts[Array.IndexOf(counts.Words, "the")]);
        var vocab = WordPieceTrainer.Train(counts, new VocabularyTrainingOptions { VocabSize = 60 });
        var m = CorpusTokenizer.Build(CorpusReader.Open(dir["big.txt"]), vocab, "v.txt", dir["store"], new TokenizeOptions { Threads = 2 }).Manifest;
        Assert.Equal(3, m.Documents);
        Assert.Equal(20_001, m.Sentences);
        Assert.Equal(100_003, m.Words);
    }

    [Fact]
    public void AnEmptyCorpusIsAnErrorAndLeavesNoStore()
    {
        using var dir = new TextTestSupport.TempDir();
        File.WriteAllText(dir["empty.txt"], "\n\n   \n\u0000"[..6]);
        var vocab = TextTestSupport.SmallVocab("a");
        var e = Assert.Throws<InvalidDataException>(() =>
            CorpusTokenizer.Build(CorpusReader.Open(dir["empty.txt"]), vocab, "v.txt", dir["out"], new TokenizeOptions()));
        Assert.Contains("no text", e.Message);
        Assert.False(TokenizedCorpusStore.IsComplete(dir["out"], out _));
        Assert.False(Directory.Exists(dir["out"])); // the store is built beside its place and moved there only when complete
        Assert.Empty(Directory.GetDirectories(dir.Path, ".*"));
    }

    [Fact]
    public void TokenizesImdbWithSplitsAndLabels()
    {
        using var dir = new TextTestSupport.TempDir();
        TextTestSupport.WriteTarGz(dir["imdb.tar.gz"], TextTestSupport.TinyImdb());
        var vocab = WordPieceTrainer.Train(CorpusReader.Open(dir["imdb.tar.gz"]).ReadDocuments(), new VocabularyTrainingOptions { VocabSize = 200, MinFrequency = 1 });
        var result = CorpusTokenizer.Build(CorpusReader.Open(dir["imdb.tar.gz"]), vocab, "vocab.txt", dir["store"], new TokenizeOptions());
        using var store = TokenizedCorpusStore.Open(dir["store"]);
        Assert.Equal(ImdbCorpusReader.Splits, store.SplitNames);
        Assert.Equal(9, store.DocumentCount);
        var infos = Enumerable.Range(0, 9).Select(store.GetDocumentInfo).ToList();
        Assert.Contains(new DocumentInfo(0, 1, 9), infos);
        Assert.Contains(new DocumentInfo(2, -1, 0), infos);
        int d = infos.IndexOf(new DocumentInfo(0, 1, 9));
        Assert.Equal(3, store.SentenceCount(d)); // "A great movie." "I loved it!" | "Mr. Smith was superb."
        Assert.Equal(2, result.Manifest.Splits[3].Documents);
        Assert.Equal(0, result.Manifest.UnkTokens);
    }
}
