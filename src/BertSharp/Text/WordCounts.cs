namespace BertSharp.Text;

/// <summary>Word types and their counts: the only thing training looks at. Sorted by ordinal string.</summary>
public sealed class WordCounts(string[] words, long[] counts)
{
    /// <summary>The distinct words, in ordinal order.</summary>
    public string[] Words { get; } = words;
    /// <summary>Occurrences of each word.</summary>
    public long[] Counts { get; } = counts;
    /// <summary>Sum of <see cref="Counts"/>.</summary>
    public long TotalWords { get; } = counts.Sum();
}
