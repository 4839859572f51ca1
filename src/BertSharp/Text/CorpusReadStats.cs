namespace BertSharp.Text;

/// <summary>What reading found that the user should know: counts, replaced bytes, warnings.</summary>
public sealed class CorpusReadStats
{
    /// <summary>Documents read.</summary>
    public long Documents;
    /// <summary>Bytes of input read (files or archive entries).</summary>
    public long Bytes;
    /// <summary>Invalid UTF-8 sequences, each replaced by U+FFFD (which the basic tokenizer drops).</summary>
    public long InvalidUtf8;
    /// <summary>Things to tell the user (long lines read in pieces, long documents split), one line each.</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>What reading found, as the lines shown to the user: each warning, then the replaced sequences (if any).</summary>
    public IEnumerable<string> WarningLines()
    {
        foreach (var w in Warnings) yield return $"warning: {w}";
        if (InvalidUtf8 > 0) yield return $"warning: {InvalidUtf8:N0} invalid UTF-8 sequence(s) replaced by U+FFFD (dropped by the tokenizer)";
    }
}
