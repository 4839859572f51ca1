using BertSharp.Data;
using static BertSharp.Tests.Data.DataFixtures;

namespace BertSharp.Tests.Data;

public class PretrainingItemsTests
{
    [Theory]
    [InlineData(128, false)]
    [InlineData(64, true)]
    [InlineData(8, false)]
    public void SequencesAreWellFormedAndHoldTheCorpusTokens(int maxSeq, bool dynamicPadding)
    {
        var corpus = ManySentences(120);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = maxSeq, MaxPredictionsPerSeq = Math.Min(20, maxSeq - 3), Seed = 5 });
        int rows = 0;
        ForEachRow(ds, copy: 0, batchSize: 16, dynamicPadding, (batch, b, item) =>
        {
            rows++;
            int n = item.SequenceLength;
            int L = batch.SeqLength;
            Assert.True(n <= maxSeq && n <= L, $"length {n} over {maxSeq}/{L}");
            Assert.True(item.LengthA >= 1 && item.LengthB >= 1);
            var ids = batch.InputIds.AsSpan(b * L, L);
            var types = batch.TokenTypeIds.AsSpan(b * L, L);
            var mask = batch.AttentionMask.AsSpan(b * L, L);
            Assert.Equal(Sp.Cls, ids[0]);
            int seps = 0;
            foreach (int id in ids[..n]) if (id == Sp.Sep) seps++;
            Assert.Equal(2, seps);
            Assert.Equal(Sp.Sep, ids[item.LengthA + 1]);
            Assert.Equal(Sp.Sep, ids[n - 1]);
            for (int i = 0; i < L; i++)
            {
                Assert.Equal(i < n ? 1 : 0, mask[i]);
                Assert.Equal(i >= item.LengthA + 2 && i < n ? 1 : 0, types[i]);
                if (i >= n) Assert.Equal(Sp.Pad, ids[i]);
            }
            Assert.Equal(ExpectedSequence(ds, item), UnmaskedRow(batch, b, n));
            Assert.Equal(item.IsRandomNext ? 1 : 0, batch.NextSentenceLabels[b]);
        });
        Assert.True(rows > 100);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.0)]
    public void NextSentencePairsAreHalfRandomAndTrueNextIsConsecutive(double shortSeqProb)
    {
        // 100 documents of about 200 sentences (about 25 chunks each).
        var corpus = SyntheticCorpus.Create(100, 1000, medianSentences: 200, sentenceSigma: 0.2, medianSentenceLength: 8, lengthSigma: 0.4, seed: 1);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 9, ShortSeqProb = shortSeqProb });
        var items = new PretrainingItem[16];
        int random = 0, total = 0, forced = 0;
        for (long copy = 0; copy < 4; copy++)
        {
            int count = ds.PlanCopy(copy, ref items);
            for (int i = 0; i < count; i++)
            {
                var it = items[i];
                if (it.ForcedRandom)
                {
                    forced++;
                    Assert.True(it.IsRandomNext);
                    Assert.Equal(it.FirstA + 1, it.EndA); // a chunk of one sentence
                }
                else total++;
                if (it.IsRandomNext && !it.ForcedRandom) random++;
                if (it.IsRandomNext)
                {
                    Assert.NotEqual(it.DocumentA, it.DocumentB);
                }
                else
                {
                    Assert.Equal(it.DocumentA, it.DocumentB);
                    Assert.Equal(it.EndA, it.FirstB); // B starts at the sentence right after A's last
                }
                // Each side is a run of whole sentences of its own document.
                var (fa, ea) = ds.SentencesOf(it.DocumentA);
                var (fb, eb) = ds.SentencesOf(it.DocumentB);
                Assert.True(it.FirstA >= fa && it.EndA <= ea && it.FirstA < it.EndA);
                Assert.True(it.FirstB >= fb && it.EndB <= eb && it.FirstB < it.EndB);
            }
        }
        // The coin (chunks of two or more segments) is fair; single-segment chunks add forced random
        // pairs on top (Google's rule, documented in docs/DATA.md), here a few percent.
        Assert.True(total > 10_000, $"only {total} items");
        Assert.InRange((double)random / total, 0.48, 0.52);
        Assert.InRange((double)forced / (total + forced), 0.001, 0.2);
        // Without short targets, on documents of many sentences, the overall share is 50% too.
        if (shortSeqProb == 0) Assert.InRange((double)(random + forced) / (total + forced), 0.48, 0.52);
    }

    [Fact]
    public void RandomSegmentsComeFromAnotherDocumentByContent()
    {
        var corpus = Tagged(60);
        var ds = AllDocuments(corpus, new PretrainingOptions { MaxSeqLength = 32, MaxPredictionsPerSeq = 5, Seed = 3 });
        ForEachRow(ds, 0, 8, false, (batch, b, item) =>
        {
            var row = UnmaskedRow(batch, b, item.SequenceLength);
            int docA = DocumentOfTaggedToken(row[1]);
            int docB = DocumentOfTaggedToken(row[item.LengthA + 2]);
            for (int i = 1; i <= item.LengthA; i++) Assert.Equal(docA, DocumentOfTaggedToken(row[i]));
            for (int i = item.LengthA + 2; i < item.SequenceLength - 1; i++) Assert.Equal(docB, DocumentOfTaggedToken(row[i]));
            Assert.Equal(batch.NextSentenceLabels[b] == 1, docA != docB);
        });
    }

    [Fact]
    public void MaskedCountsFollowTheFormulaAndTheSplitIs80_10_10()
    {
        var corpus = ManySentences(200, vocab: 5000);
        var options = new PretrainingOptions { MaxSeqLength = 128, MaxPredictionsPerSeq = 20, Seed = 11, ShortSeqProb = 0.3 };
        var ds = AllDocuments(corpus, options);
        long masked = 0, asMask = 0, unchanged = 0, replaced = 0;
        int rows = 0;
        for (long copy = 0; copy < 3; copy++)
            ForEachRow(ds, copy, 32, false, (batch, b, item) =>
            {
                rows++;
                int n = item.SequenceLength;
                int P = batch.MaxPredictions;
                int expected = options.NumToPredict(n);
                var original = ExpectedSequence(ds, item);
                var ids = batch.InputIds.AsSpan(b * batch.SeqLength, n);
                int real = 0, previous = 0;
                var isMasked = new bool[n];
                for (int k = 0; k < P; k++)
                {
                    int i = b * P + k;
                    if (batch.MaskedLmWeights[i] == 0f)
                    {
                        Assert.Equal(0, batch.MaskedLmPositions[i]);
                        Assert.Equal(0, batch.MaskedLmIds[i]);
                        continue;
                    }
                    Assert.Equal(1f, batch.MaskedLmWeights[i]);
                    Assert.Equal(k, real); // real predictions first
                    real++;
                    int p = batch.MaskedLmPositions[i];
                    Assert.True(p > previous, "positions ascending, never [CLS]");
                    previous = p;
                    isMasked[p] = true;
                    Assert.Equal(original[p], batch.MaskedLmIds[i]);
                    Assert.False(Sp.IsSpecial(original[p]), "a special token was masked");
                    Assert.False(Sp.IsSpecial(ids[p]) && ids[p] != Sp.Mask, "a special token was inserted");
                    if (ids[p] == Sp.Mask) asMask++;
                    else if (ids[p] == original[p]) unchanged++;
                    else replaced++;
                    masked++;
                }
                Assert.Equal(expected, real);
                for (int i = 0; i < n; i++) if (!isMasked[i]) Assert.Equal(original[i], ids[i]);
            });
        Assert.True(masked > 50_000, $"only {masked} predictions in {rows} rows");
        Assert.InRange((double)asMask / masked, 0.78, 0.82);
        Assert.InRange((double)unchanged / masked, 0.08, 0.12);
        Assert.InRange((double)replaced / masked, 0.08, 0.12);
    }

    [Theory]
    [InlineData(10, 2)]   // 10 * 0.15 = 1.5 rounds half to even: 2
    [InlineData(30, 4)]   // 4.5 -> 4 (banker's rounding, as Python's round)
    [InlineData(5, 1)]    // 0.75 -> 1
    [InlineData(8, 1)]    // 1.2 -> 1, max(1, .)
    [InlineData(128, 19)] // 19.2
    [InlineData(512, 20)] // capped by max_predictions_per_seq
    public void NumToPredictIsGooglesFormula(int length, int expected) =>
        Assert.Equal(expected, new PretrainingOptions().NumToPredict(length));

    [Fact]
    public void WholeWordMaskingNeverSplitsAWord()
    {
        const int vocab = 1000;
        var continuation = new bool[vocab];
        for (int id = 600; id < vocab; id++) continuation[id] = true; // ids 600.. are "##" pieces
        var corpus = ManySentences(150, seed: 4, vocab: vocab);
        var options = new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, WholeWordMask = true, ContinuationPieces = continuation, Seed = 2 };
        var ds = AllDocuments(corpus, options);
        int rows = 0, multiPieceWordsMasked = 0;
        ForEachRow(ds, 0, 16, false, (batch, b, item) =>
        {
            rows++;
            int n = item.SequenceLength;
            var original = ExpectedSequence(ds, item);
            var isMasked = new bool[n];
            int count = 0;
            for (int k = 0; k < batch.MaxPredictions; k++)
            {
                int i = b * batch.MaxPredictions + k;
                if (batch.MaskedLmWeights[i] == 1f) { isMasked[batch.MaskedLmPositions[i]] = true; count++; }
            }
            Assert.InRange(count, 1, options.NumToPredict(n));
            // A word: a non-continuation ordinary token followed by its "##" pieces (within one segment).
            for (int i = 1; i < n; i++)
            {
                if (Sp.IsSpecial(original[i]) || !continuation[original[i]] || Sp.IsSpecial(original[i - 1])) continue;
                Assert.True(isMasked[i] == isMasked[i - 1], $"word split at position {i}");
                if (isMasked[i] && !continuation[original[i - 1]]) multiPieceWordsMasked++;
            }
        });
        Assert.True(multiPieceWordsMasked > 100, $"only {multiPieceWordsMasked} multi-piece words masked in {rows} rows");
    }

    [Fact]
    public void PlanningIsIndependentOfThreadCountAndOrder()
    {
        var corpus = ManySentences(200);
        var ds = AllDocuments(corpus, new PretrainingOptions { Seed = 21 });
        var sequential = new PretrainingItem[16];
        int count = ds.PlanCopy(3, ref sequential);
        // Each document planned alone on its own thread, in reverse, must give the same items.
        var perDocument = new PretrainingItem[ds.DocumentCount][];
        var counts = new int[ds.DocumentCount];
        Parallel.For(0, ds.DocumentCount, new ParallelOptions { MaxDegreeOfParallelism = 4 }, p =>
        {
            int q = ds.DocumentCount - 1 - p;
            var items = new PretrainingItem[4];
            counts[q] = ds.PlanDocument(q, 3, ref items, 0);
            perDocument[q] = items;
        });
        var joined = perDocument.SelectMany((items, p) => items.Take(counts[p])).ToArray();
        Assert.Equal(count, joined.Length);
        Assert.Equal(sequential.Take(count), joined);
    }

    [Fact]
    public void ShortSequenceProbabilityGivesShorterTargets()
    {
        var corpus = ManySentences(200);
        double MeanLength(double shortProb)
        {
            var ds = AllDocuments(corpus, new PretrainingOptions { ShortSeqProb = shortProb, Seed = 1 });
            var items = new PretrainingItem[16];
            int count = ds.PlanCopy(0, ref items);
            return items.Take(count).Average(i => i.SequenceLength);
        }
        double full = MeanLength(0), always = MeanLength(1);
        Assert.True(full > 110, $"mean {full}"); // chunks fill to max_num_tokens
        Assert.True(always < 0.75 * full, $"short {always} vs full {full}");
    }
}
