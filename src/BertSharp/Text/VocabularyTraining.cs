using System.Diagnostics;

namespace BertSharp.Text;

/// <summary>
/// The one flow from a corpus to a WordPiece vocabulary, shared by <c>bertsharp tokenizer train</c> and the pretraining
/// stages: count the words (with progress), show what reading found, refuse a corpus without text, train. Two steps,
/// so that a caller can show the counting's outcome before the (single-threaded) training starts.
/// <code>
/// var options = new VocabularyTrainingOptions { VocabSize = 8000 };
/// var counted = VocabularyTraining.Count(CorpusReader.Open("corpus.txt"), options);
/// foreach (var line in counted.Stats.WarningLines()) Console.Error.WriteLine(line);
/// VocabularyTraining.Train(counted, options).Save("vocab.txt");
/// </code>
/// </summary>
public static class VocabularyTraining
{
    /// <summary>Counts the words of <paramref name="reader"/>'s corpus as <paramref name="options"/> say (casing, threads).
    /// An unreadable corpus is <see cref="ErrorKind.BadInput"/>.</summary>
    public static CorpusWordCounts Count(CorpusReader reader, VocabularyTrainingOptions options, IProgress<CountingProgress>? progress = null,
        CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var counts = BertSharpException.Guard(() => WordPieceTrainer.CountWords(Documents(reader, progress, cancel), options.LowerCase, options.Threads, cancel));
        return new CorpusWordCounts(reader.Path, counts, reader.Stats, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Trains the vocabulary on <paramref name="counted"/> words. A corpus without text, or a vocabulary too small
    /// for the special tokens and the corpus's alphabet, is <see cref="ErrorKind.BadInput"/>; check the options first with
    /// <see cref="VocabularyTrainingOptions.Validate"/> for an error that names the setting (not done here: a run.json may
    /// hold a minimum frequency of 0, which trains as 1 always has).</summary>
    public static Vocabulary Train(CorpusWordCounts counted, VocabularyTrainingOptions options)
    {
        counted.RequireText();
        return BertSharpException.Guard(() => WordPieceTrainer.Train(counted.Counts, options));
    }

    private static IEnumerable<CorpusDocument> Documents(CorpusReader reader, IProgress<CountingProgress>? progress, CancellationToken cancel)
    {
        long n = 0, chars = 0;
        foreach (var d in reader.ReadDocuments(cancel))
        {
            n++;
            chars += d.Length;
            if ((n & 1023) == 0) progress?.Report(new CountingProgress(n, chars));
            yield return d;
        }
    }
}
