using BertSharp.Data;
using BertSharp.Text;

namespace BertSharp.Tests.Data;

/// <summary>Generated corpora and an independent reconstruction of what a batch row must hold.</summary>
internal static class DataFixtures
{
    public static readonly SpecialTokenIds Sp = SpecialTokenIds.Default;

    /// <summary>Documents of many short sentences (ids 5..vocab-1).</summary>
    public static InMemoryTokenizedCorpus ManySentences(int documents = 300, ulong seed = 1, int vocab = 1000) =>
        SyntheticCorpus.Create(documents, vocab, medianSentences: 60, sentenceSigma: 0.3,
            medianSentenceLength: 8, lengthSigma: 0.4, seed);

    /// <summary>Each document's tokens come from its own id range: 5 + 10*d .. 5 + 10*d + 9, so a token
    /// names its document.</summary>
    public static InMemoryTokenizedCorpus Tagged(int documents, ulong seed = 2)
    {
        var rng = DataRng.Create(1, seed, 0);
        var docs = new int[documents][][];
        for (int d = 0; d < documents; d++)
        {
            var doc = new int[3 + rng.NextInt(20)][];
            for (int s = 0; s < doc.Length; s++)
            {
                doc[s] = new int[1 + rng.NextInt(15)];
                for (int t = 0; t < doc[s].Length; t++) doc[s][t] = 5 + 10 * d + rng.NextInt(10);
            }
            docs[d] = doc;
        }
        return new InMemoryTokenizedCorpus(5 + 10 * documents, docs);
    }

    public static int DocumentOfTaggedToken(int id) => (id - 5) / 10;

    /// <summary>A: the item's A tokens straight from the corpus (sentences concatenated, trims removed).</summary>
    public static int[] Segment(PretrainingDataset ds, int doc, int first, int end, int trimFront, int trimBack)
    {
        var all = new List<int>();
        for (int s = first; s < end; s++)
        {
            int si = ds.SentenceIndexOf(s);
            var buf = new int[ds.Corpus.SentenceLength(doc, si)];
            ds.Corpus.CopySentence(doc, si, buf);
            all.AddRange(buf);
        }
        return all.Skip(trimFront).Take(all.Count - trimFront - trimBack).ToArray();
    }

    /// <summary>[CLS] A [SEP] B [SEP] before masking.</summary>
    public static int[] ExpectedSequence(PretrainingDataset ds, in PretrainingItem it)
    {
        var a = Segment(ds, it.DocumentA, it.FirstA, it.EndA, it.TrimAFront, it.TrimABack);
        var b = Segment(ds, it.DocumentB, it.FirstB, it.EndB, it.TrimBFront, it.TrimBBack);
        return [Sp.Cls, .. a, Sp.Sep, .. b, Sp.Sep];
    }

    /// <summary>Row b of a batch with the masks undone (original ids restored from MaskedLmIds).</summary>
    public static int[] UnmaskedRow(BertBatch batch, int b, int length)
    {
        var row = batch.InputIds.AsSpan(b * batch.SeqLength, length).ToArray();
        for (int k = 0; k < batch.MaxPredictions; k++)
        {
            int i = b * batch.MaxPredictions + k;
            if (batch.MaskedLmWeights[i] == 1f) row[batch.MaskedLmPositions[i]] = batch.MaskedLmIds[i];
        }
        return row;
    }

    /// <summary>All items of one copy, written batch by batch in plan order; calls back per row.</summary>
    public static void ForEachRow(PretrainingDataset ds, long copy, int batchSize, bool dynamicPadding,
        Action<BertBatch, int, PretrainingItem> check)
    {
        var items = new PretrainingItem[16];
        int count = ds.PlanCopy(copy, ref items);
        var writer = new BatchWriter(ds);
        var batch = new BertBatch(batchSize, ds.Options.MaxSeqLength, ds.Options.MaxPredictionsPerSeq);
        for (int start = 0; start < count; start += batchSize)
        {
            var span = items.AsSpan(start, Math.Min(batchSize, count - start));
            writer.Fill(batch, span, copy, dynamicPadding);
            for (int b = 0; b < span.Length; b++) check(batch, b, span[b]);
        }
    }

    public static PretrainingDataset AllDocuments(ITokenizedCorpus corpus, PretrainingOptions options) =>
        new(corpus, DocumentSplit.All(corpus).Train, options);
}
