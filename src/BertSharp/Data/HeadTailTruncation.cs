namespace BertSharp.Data;

/// <summary>
/// Truncation that keeps the head and the tail of a long text: Sun et al. 2019 ("How to Fine-Tune BERT for
/// Text Classification?") found head 128 + tail 382 tokens best on IMDB at length 512. For other lengths the
/// head keeps the same share (128/510 of the content tokens) unless given.
/// </summary>
public static class HeadTailTruncation
{
    /// <summary>Head tokens for a sequence of <paramref name="maxLength"/> (including [CLS] and [SEP]).</summary>
    public static int DefaultHeadTokens(int maxLength) => (int)Math.Round(128.0 * Math.Max(0, maxLength - 2) / 510.0);

    /// <summary>How many tokens to keep from the start and from the end of <paramref name="tokens"/> content tokens.</summary>
    public static (int Head, int Tail) Split(int tokens, int maxContent, int headTokens)
    {
        if (maxContent < 1) throw new ArgumentException($"max length leaves no room for text ({maxContent} content tokens)");
        if (tokens <= maxContent) return (tokens, 0);
        int head = Math.Clamp(headTokens, 0, maxContent);
        return (head, maxContent - head);
    }

    /// <summary>The kept tokens of <paramref name="ids"/>: the first Head and the last Tail.</summary>
    public static int[] Apply(IReadOnlyList<int> ids, int maxContent, int headTokens)
    {
        var (head, tail) = Split(ids.Count, maxContent, headTokens);
        var result = new int[head + tail];
        for (int i = 0; i < head; i++) result[i] = ids[i];
        for (int i = 0; i < tail; i++) result[head + i] = ids[ids.Count - tail + i];
        return result;
    }
}
