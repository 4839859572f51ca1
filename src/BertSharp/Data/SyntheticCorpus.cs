using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>
/// Generated tokenized corpora for tests and benchmarks: sentence counts and sentence lengths drawn
/// from log-normal distributions (medians and spreads given), token ids uniform over the ordinary ids
/// (specials are the default 0..4). <see cref="ImdbLike"/> approximates IMDB's shape: 100,000 reviews,
/// about 10 sentences of about 26 WordPiece tokens each.
/// </summary>
internal static class SyntheticCorpus
{
    public static InMemoryTokenizedCorpus Create(int documents, int vocabSize, double medianSentences, double sentenceSigma,
        double medianSentenceLength, double lengthSigma, ulong seed, int maxSentenceLength = 400)
    {
        var rng = DataRng.Create(0x53594E54, seed, 0);
        var docs = new int[documents][][];
        for (int d = 0; d < documents; d++)
        {
            int n = Math.Max(1, (int)Math.Round(LogNormal(ref rng, medianSentences, sentenceSigma)));
            var doc = new int[n][];
            for (int s = 0; s < n; s++)
            {
                int len = Math.Clamp((int)Math.Round(LogNormal(ref rng, medianSentenceLength, lengthSigma)), 1, maxSentenceLength);
                var sentence = new int[len];
                for (int t = 0; t < len; t++) sentence[t] = 5 + rng.NextInt(vocabSize - 5);
                doc[s] = sentence;
            }
            docs[d] = doc;
        }
        return new InMemoryTokenizedCorpus(vocabSize, docs);
    }

    /// <summary>About IMDB's size and shape: 100k documents, ~10 sentences of ~26 tokens, vocabulary 30,522.</summary>
    public static InMemoryTokenizedCorpus ImdbLike(int documents = 100_000, ulong seed = 1) =>
        Create(documents, 30522, medianSentences: 8, sentenceSigma: 0.7, medianSentenceLength: 22, lengthSigma: 0.6, seed);

    private static double LogNormal(ref DataRng rng, double median, double sigma)
    {
        // Box–Muller; 1 - u keeps the logarithm finite.
        double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
        double z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return median * Math.Exp(sigma * z);
    }
}
