using BertSharp.Data;
using BertSharp.Text;
using static BertSharp.Tests.Data.DataFixtures;

namespace BertSharp.Tests.Data;

public class PretrainingEdgeCaseTests
{
    private static int[] Sentence(int length, int start) => Enumerable.Range(0, length).Select(i => 5 + (start + i) % 90).ToArray();

    [Fact]
    public void SingleSentenceDocumentsGiveRandomPairs()
    {
        var docs = Enumerable.Range(0, 50).Select(d => new[] { Sentence(3 + d % 10, d) }).ToArray();
        var ds = AllDocuments(new InMemoryTokenizedCorpus(100, docs), new PretrainingOptions { MaxSeqLength = 32, MaxPredictionsPerSeq = 5 });
        int rows = 0;
        ForEachRow(ds, 0, 8, false, (batch, b, item) =>
        {
            rows++;
            Assert.True(item.IsRandomNext); // a chunk of one segment has no B of its own (Google's rule)
            Assert.Equal(1, batch.NextSentenceLabels[b]);
            Assert.NotEqual(item.DocumentA, item.DocumentB);
            Assert.Equal(ExpectedSequence(ds, item), UnmaskedRow(batch, b, item.SequenceLength));
        });
        Assert.Equal(50, rows); // one item per document
    }

    [Fact]
    public void OneDocumentIsRejectedWithAClearMessage()
    {
        var corpus = new InMemoryTokenizedCorpus(100, [new[] { Sentence(5, 0), Sentence(6, 1) }]);
        var e = Assert.Throws<ArgumentException>(() => AllDocuments(corpus, new PretrainingOptions()));
        Assert.Contains("only one document", e.Message);
        Assert.Contains("at least two", e.Message);
        var empty = new InMemoryTokenizedCorpus(100, [new[] { Array.Empty<int>() }, Array.Empty<int[]>()]);
        e = Assert.Throws<ArgumentException>(() => new PretrainingDataset(empty, [0, 1], new PretrainingOptions(), "validation"));
        Assert.Contains("validation corpus: no document has any tokens", e.Message);
    }

    [Fact]
    public void SentencesLongerThanMaxSeqLengthAreTruncated()
    {
        // Sentences of 3x max_seq_length between normal ones: truncate_seq_pair trims them.
        var docs = Enumerable.Range(0, 30).Select(d => Enumerable.Range(0, 6)
            .Select(s => Sentence(s % 3 == 1 ? 200 : 4 + s, d * 7 + s)).ToArray()).ToArray();
        var ds = AllDocuments(new InMemoryTokenizedCorpus(100, docs), new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 3 });
        int trimmed = 0;
        ForEachRow(ds, 0, 8, true, (batch, b, item) =>
        {
            Assert.True(item.SequenceLength <= 64);
            Assert.True(item.LengthA >= 1 && item.LengthB >= 1);
            if (item.TrimAFront + item.TrimABack + item.TrimBFront + item.TrimBBack > 100) trimmed++;
            Assert.Equal(ExpectedSequence(ds, item), UnmaskedRow(batch, b, item.SequenceLength));
        });
        Assert.True(trimmed > 10);
    }

    [Fact]
    public void TruncationTrimsTheLongerSideFromBothEnds()
    {
        var corpus = ManySentences(100);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 16, MaxPredictionsPerSeq = 2, Seed = 1 });
        var items = new PretrainingItem[16];
        int n = ds.PlanCopy(0, ref items);
        long front = 0, back = 0;
        for (int i = 0; i < n; i++)
        {
            var it = items[i];
            Assert.True(it.LengthA + it.LengthB <= 13);
            // After trimming, the sides differ by at most one unless the shorter one was never trimmed.
            if (it.TrimAFront + it.TrimABack > 0 && it.TrimBFront + it.TrimBBack > 0)
                Assert.InRange(it.LengthA - it.LengthB, -1, 1);
            front += it.TrimAFront + it.TrimBFront;
            back += it.TrimABack + it.TrimBBack;
        }
        Assert.InRange((double)front / (front + back), 0.45, 0.55);
    }

    [Theory]
    [InlineData(7, 512, "below the minimum of 8")]
    [InlineData(4, 512, "below the minimum of 8")]
    [InlineData(513, 512, "exceeds the model's max_position_embeddings of 512")]
    [InlineData(256, 128, "exceeds the model's max_position_embeddings of 128")]
    public void BadMaxSeqLengthIsRejected(int maxSeq, int maxPositions, string message)
    {
        var corpus = ManySentences(5);
        var options = new PretrainingOptions { MaxSeqLength = maxSeq, MaxPositionEmbeddings = maxPositions, MaxPredictionsPerSeq = 1 };
        var e = Assert.Throws<ArgumentException>(() => AllDocuments(corpus, options));
        Assert.Contains(message, e.Message);
        Assert.StartsWith("max_seq_length:", e.Message);
    }

    [Fact]
    public void OtherBadOptionsAreRejected()
    {
        var corpus = ManySentences(5);
        Assert.Contains("max_predictions_per_seq", Assert.Throws<ArgumentException>(() =>
            AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 16, MaxPredictionsPerSeq = 20 })).Message);
        Assert.Contains("ContinuationPieces", Assert.Throws<ArgumentException>(() =>
            AllDocuments(corpus, new PretrainingOptions { WholeWordMask = true })).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() =>
            AllDocuments(corpus, new PretrainingOptions { SpecialTokens = new SpecialTokenIds(0, 100, 101, 102, 5000) })).Message);
        Assert.Contains("dupe_factor", Assert.Throws<ArgumentException>(() =>
            AllDocuments(corpus, new PretrainingOptions { Masking = MaskingMode.Static, DupeFactor = 0 })).Message);
    }

    [Fact]
    public void EmptySentencesAndDocumentsAreSkipped()
    {
        var docs = new List<int[][]>
        {
            new[] { Sentence(4, 0), Array.Empty<int>(), Sentence(5, 1) },
            Array.Empty<int[]>(),
            new[] { Array.Empty<int>() },
            new[] { Sentence(6, 2), Sentence(3, 3), Array.Empty<int>() },
            new[] { Sentence(7, 4) },
        };
        var ds = AllDocuments(new InMemoryTokenizedCorpus(100, docs), new PretrainingOptions { MaxSeqLength = 16, MaxPredictionsPerSeq = 2 });
        Assert.Equal(3, ds.DocumentCount);
        Assert.Equal([0, 3, 4], ds.Documents.ToArray());
        ForEachRow(ds, 0, 4, false, (batch, b, item) =>
        {
            Assert.True(item.LengthA >= 1 && item.LengthB >= 1);
            Assert.Equal(ExpectedSequence(ds, item), UnmaskedRow(batch, b, item.SequenceLength));
        });
    }

    [Fact]
    public void PublishedVocabularySpecialIdsAreHonoured()
    {
        // bert-base-uncased layout: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103.
        var sp = new SpecialTokenIds(0, 100, 101, 102, 103);
        var docs = Enumerable.Range(0, 40).Select(d => Enumerable.Range(0, 8)
            .Select(s => Enumerable.Range(0, 6).Select(i => 95 + (d + s + i) % 15).ToArray()).ToArray()).ToArray(); // ids 95..109 straddle the specials
        var ds = AllDocuments(new InMemoryTokenizedCorpus(110, docs), new PretrainingOptions { MaxSeqLength = 32, MaxPredictionsPerSeq = 5, SpecialTokens = sp });
        ForEachRow(ds, 0, 8, false, (batch, b, item) =>
        {
            int L = batch.SeqLength;
            Assert.Equal(101, batch.InputIds[b * L]);
            for (int k = 0; k < 5; k++)
            {
                int i = b * 5 + k;
                if (batch.MaskedLmWeights[i] == 0f) continue;
                Assert.False(sp.IsSpecial(batch.MaskedLmIds[i]));
                int now = batch.InputIds[b * L + batch.MaskedLmPositions[i]];
                Assert.True(now == 103 || !sp.IsSpecial(now));
            }
        });
    }
}
