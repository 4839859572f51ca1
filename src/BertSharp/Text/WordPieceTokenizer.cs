namespace BertSharp.Text;

/// <summary>
/// WordPiece encoding: greedy longest-match-first over a word's code points, continuation pieces
/// prefixed <c>##</c>. A word longer than <see cref="MaxInputCharsPerWord"/> code points, or with a
/// remainder no piece matches, becomes a single [UNK]. Stateless and thread-safe.
/// </summary>
public sealed class WordPieceTokenizer
{
    /// <summary>HuggingFace's limit (Google's tokenization.py uses 200): the tokenizers most people load
    /// our vocabularies with cut at 100, and a 101..200-char "word" is a URL or a run of one character.</summary>
    public const int DefaultMaxInputCharsPerWord = 100;

    /// <summary>A WordPiece encoder over <paramref name="vocabulary"/>; words of more than <paramref
    /// name="maxInputCharsPerWord"/> code points become [UNK].</summary>
    public WordPieceTokenizer(Vocabulary vocabulary, int maxInputCharsPerWord = DefaultMaxInputCharsPerWord)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInputCharsPerWord, 1);
        Vocabulary = vocabulary;
        MaxInputCharsPerWord = maxInputCharsPerWord;
    }

    /// <summary>The vocabulary pieces come from.</summary>
    public Vocabulary Vocabulary { get; }
    /// <summary>Longest word (in code points) that is split into pieces; longer ones become [UNK].</summary>
    public int MaxInputCharsPerWord { get; }

    /// <summary>Appends the ids of one word (a basic-tokenizer output) to <paramref name="ids"/>; returns
    /// how many it appended.</summary>
    public int Encode(ReadOnlySpan<char> word, List<int> ids)
    {
        int unk = Vocabulary.SpecialIds.Unk;
        if (word.Length > MaxInputCharsPerWord && CodePointCount(word) > MaxInputCharsPerWord)
        {
            ids.Add(unk);
            return 1;
        }
        int first = ids.Count;
        int maxPiece = Vocabulary.MaxTokenChars;
        for (int start = 0; start < word.Length;)
        {
            int end = Math.Min(word.Length, start + maxPiece);
            int found = -1;
            while (end > start)
            {
                // Never end inside a surrogate pair: Python slices code points.
                if (end < word.Length && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) { end--; continue; }
                var piece = word[start..end];
                if (start == 0 ? Vocabulary.TryGetId(piece, out found) : Vocabulary.TryGetContinuationId(piece, out found))
                    break;
                found = -1;
                end--;
            }
            if (found < 0)
            {
                ids.RemoveRange(first, ids.Count - first);
                ids.Add(unk);
                return 1;
            }
            ids.Add(found);
            start = end;
        }
        return ids.Count - first;
    }

    private static int CodePointCount(ReadOnlySpan<char> s)
    {
        int n = s.Length;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { n--; i++; }
        return n;
    }
}
