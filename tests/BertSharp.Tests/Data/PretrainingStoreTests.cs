using BertSharp.Data;
using BertSharp.Text;

namespace BertSharp.Tests.Data;

public class PretrainingStoreTests
{
    [Fact]
    public void TheOnDiskStoreGivesTheSameBatchesAsTheSameDocumentsInMemory()
    {
        var memory = SyntheticCorpus.Create(120, 3000, medianSentences: 10, sentenceSigma: 0.6, medianSentenceLength: 20, lengthSigma: 0.6, seed: 9);
        string[] names = ["train/pos", "train/neg", "train/unsup", "test/pos", "test/neg"];
        var info = Enumerable.Range(0, memory.DocumentCount).Select(d => new DocumentInfo(d % 5, d % 5 == 2 ? -1 : d % 2, 1 + d % 10)).ToArray();
        var tagged = new InMemoryTokenizedCorpus(3000, Enumerable.Range(0, memory.DocumentCount).Select(d => Sentences(memory, d)).ToArray(), info, names);
        string dir = Path.Combine(Path.GetTempPath(), "bertsharp-data-store-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var writer = new TokenizedCorpusWriter(dir, tagged.VocabSize))
            {
                for (int d = 0; d < tagged.DocumentCount; d++)
                {
                    var sentences = Sentences(tagged, d);
                    writer.AddDocument(sentences.SelectMany(s => s).ToArray(), sentences.Select(s => s.Length).ToArray(), info[d]);
                }
                writer.Complete(new TokenizedCorpusManifest { SplitNames = names, SpecialTokenIds = [0, 1, 2, 3, 4] });
            }
            using var store = TokenizedCorpusStore.Open(dir);
            var options = new PretrainingOptions { MaxSeqLength = 64, MaxPredictionsPerSeq = 10, Seed = 77, SpecialTokens = store.SpecialTokenIds };
            var fromStore = DocumentSplit.BySplitNames(store, ["train"], ["test"], 0.5, seed: 1);
            var fromMemory = DocumentSplit.BySplitNames(tagged, ["train"], ["test"], 0.5, seed: 1);
            Assert.Equal(fromMemory.Train, fromStore.Train);
            Assert.Equal(fromMemory.Validation, fromStore.Validation);

            using var a = new PretrainingLoader(new PretrainingDataset(store, fromStore.Train, options), 16, dynamicPadding: true);
            using var b = new PretrainingLoader(new PretrainingDataset(tagged, fromMemory.Train, options), 16, dynamicPadding: true);
            for (int i = 0; i < 40; i++)
            {
                var x = a.Next();
                var y = b.Next();
                Assert.Equal(y.SeqLength, x.SeqLength);
                Assert.Equal(y.InputIds.AsSpan(0, 16 * y.SeqLength).ToArray(), x.InputIds.AsSpan(0, 16 * x.SeqLength).ToArray());
                Assert.Equal(y.MaskedLmIds, x.MaskedLmIds);
                Assert.Equal(y.NextSentenceLabels, x.NextSentenceLabels);
                Assert.Equal(a.Position, b.Position);
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    private static int[][] Sentences(ITokenizedCorpus corpus, int d) =>
        Enumerable.Range(0, corpus.SentenceCount(d)).Select(s =>
        {
            var buf = new int[corpus.SentenceLength(d, s)];
            corpus.CopySentence(d, s, buf);
            return buf;
        }).ToArray();
}
