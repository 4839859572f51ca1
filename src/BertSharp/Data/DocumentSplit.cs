using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>
/// Which documents train and which validate. The split is by document, so no sentence of a
/// validation document ever reaches a training batch (random "B" segments are drawn from the same
/// side as their "A").
/// </summary>
public sealed class DocumentSplit
{
    /// <summary>Corpus document indices that train.</summary>
    public int[] Train { get; }
    /// <summary>Corpus document indices that validate (may be empty).</summary>
    public int[] Validation { get; }

    private DocumentSplit(int[] train, int[] validation)
    {
        Train = train;
        Validation = validation;
    }

    /// <summary>All documents train; no validation.</summary>
    public static DocumentSplit All(ITokenizedCorpus corpus) =>
        new(Enumerable.Range(0, corpus.DocumentCount).ToArray(), []);

    /// <summary>
    /// The split <c>pretrain</c> uses (and <c>evaluate</c> and the benchmarks re-create): for an IMDB corpus that has
    /// its test reviews, train/ (with unsup/) trains and a hashed share of test/ validates, so no test review is ever
    /// pretrained on; otherwise a hashed share of all documents validates (<see cref="ByFraction"/>).
    /// </summary>
    public static DocumentSplit ForPretraining(ITokenizedCorpus corpus, bool imdb, double validationFraction, ulong seed) =>
        imdb && corpus.SplitNames.Contains("test/pos")
            ? BySplitNames(corpus, ["train"], ["test"], validationFraction, seed)
            : ByFraction(corpus, validationFraction, seed);

    /// <summary>
    /// Holds out about <paramref name="validationFraction"/> of the documents: document d validates when
    /// hash(seed, d) / 2^64 &lt; fraction. A pure function of (seed, d), so adding documents at the end
    /// never moves the earlier ones across.
    /// </summary>
    public static DocumentSplit ByFraction(ITokenizedCorpus corpus, double validationFraction, ulong seed)
    {
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentException($"validation fraction: {validationFraction} must be in [0, 1)");
        var train = new List<int>();
        var validation = new List<int>();
        for (int d = 0; d < corpus.DocumentCount; d++)
            (IsHeldOut(seed, d, validationFraction) ? validation : train).Add(d);
        return new(train.ToArray(), validation.ToArray());
    }

    /// <summary>
    /// Split by the corpus's split names (IMDB: train/pos, train/neg, train/unsup, test/pos, test/neg).
    /// A selector matches a split name equal to it or starting with it followed by '/', so "test" takes
    /// test/pos and test/neg. Of the validation splits' documents, only the hash-chosen
    /// <paramref name="validationFraction"/> validate; the rest are used by neither side (so, for IMDB,
    /// held-out test reviews never leak into pretraining).
    /// </summary>
    public static DocumentSplit BySplitNames(ITokenizedCorpus corpus, IReadOnlyList<string> trainSplits,
        IReadOnlyList<string> validationSplits, double validationFraction = 1.0, ulong seed = 0)
    {
        if (!(validationFraction > 0 && validationFraction <= 1))
            throw new ArgumentException($"validation fraction: {validationFraction} must be in (0, 1]");
        var names = corpus.SplitNames;
        bool[] isTrain = MatchSplits(names, trainSplits, "train splits");
        bool[] isValidation = MatchSplits(names, validationSplits, "validation splits");
        for (int i = 0; i < names.Count; i++)
            if (isTrain[i] && isValidation[i])
                throw new ArgumentException($"splits: '{names[i]}' is selected for both training and validation");
        var train = new List<int>();
        var validation = new List<int>();
        for (int d = 0; d < corpus.DocumentCount; d++)
        {
            int split = corpus.GetDocumentInfo(d).Split;
            if (isTrain[split]) train.Add(d);
            else if (isValidation[split] && (validationFraction >= 1 || IsHeldOut(seed, d, validationFraction))) validation.Add(d);
        }
        return new(train.ToArray(), validation.ToArray());
    }

    private static bool IsHeldOut(ulong seed, int document, double fraction) =>
        (DataRng.Hash(seed ^ (DataRng.TagSplit << 32), (ulong)document) >> 11) * (1.0 / (1UL << 53)) < fraction;

    private static bool[] MatchSplits(IReadOnlyList<string> names, IReadOnlyList<string> selectors, string what)
    {
        var result = new bool[names.Count];
        foreach (var selector in selectors)
        {
            bool any = false;
            for (int i = 0; i < names.Count; i++)
                if (names[i] == selector || names[i].StartsWith(selector + "/", StringComparison.Ordinal))
                    result[i] = any = true;
            if (!any)
                throw new ArgumentException($"{what}: '{selector}' matches none of the corpus's splits ({string.Join(", ", names)})");
        }
        return result;
    }
}
