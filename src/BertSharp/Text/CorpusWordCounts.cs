namespace BertSharp.Text;

/// <summary>The words of a corpus counted for a vocabulary (<see cref="VocabularyTraining.Count"/>), with what reading found.</summary>
public sealed class CorpusWordCounts
{
    internal CorpusWordCounts(string corpusPath, WordCounts counts, CorpusReadStats stats, double seconds) =>
        (CorpusPath, Counts, Stats, Seconds) = (corpusPath, counts, stats, seconds);

    /// <summary>The corpus (its full path).</summary>
    public string CorpusPath { get; }
    /// <summary>Each distinct word and its count.</summary>
    public WordCounts Counts { get; }
    /// <summary>Documents read, replaced bytes and warnings; <see cref="CorpusReadStats.WarningLines"/> is what to show.</summary>
    public CorpusReadStats Stats { get; }
    /// <summary>Wall-clock seconds the counting took.</summary>
    public double Seconds { get; }

    /// <summary>Refuses a corpus without a single word (<see cref="ErrorKind.BadInput"/> naming it): nothing to train on.</summary>
    public CorpusWordCounts RequireText() => Counts.Words.Length > 0 ? this
        : throw new BertSharpException($"{CorpusPath}: the corpus has no text");
}
