using System.Collections.Frozen;

namespace BertSharp.Text;

/// <summary>
/// A rule-based sentence splitter for review-like text (rules in docs/TEXT.md). A newline is a hard
/// boundary (cleaned documents keep one paragraph per line). Inside a paragraph a sentence ends after a
/// run of <c>. ! ?</c> or an ellipsis, plus any closing quotes and brackets, when whitespace follows,
/// except after abbreviations, initials, list numbers, or an ellipsis/acronym followed by a lowercase
/// word. Stateless and thread-safe.
/// </summary>
public static class SentenceSplitter
{
    // Never end a sentence: titles and Latin abbreviations that are followed by more of the sentence.
    private static readonly FrozenSet<string> NeverEnd = new[]
    {
        "mr", "mrs", "ms", "mssrs", "messrs", "dr", "prof", "st", "mt", "ft", "sr", "jr", "vs", "v", "e.g", "i.e",
        "cf", "viz", "al", "approx", "vol", "fig", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm", "gov", "sen",
        "rep", "rev", "hon", "pres", "supt", "u.s", "u.k", "u.n", "u.s.a", "ca", "esp", "incl", "dept", "univ",
    }.ToFrozenSet(StringComparer.Ordinal);

    // End a sentence only when a capitalised word follows: usually sentence-final abbreviations.
    private static readonly FrozenSet<string> EndBeforeCapital = new[]
    {
        "etc", "inc", "ltd", "co", "corp", "bros", "a.m", "p.m", "no", "nos", "jan", "feb", "mar", "apr", "jun",
        "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Splits <paramref name="text"/> into sentences, appended to <paramref name="sentences"/>
    /// as ranges (trimmed of whitespace, never empty).</summary>
    public static void Split(ReadOnlySpan<char> text, List<Range> sentences)
    {
        int lineStart = 0;
        while (lineStart <= text.Length)
        {
            int nl = text[lineStart..].IndexOf('\n');
            int lineEnd = nl < 0 ? text.Length : lineStart + nl;
            SplitParagraph(text, lineStart, lineEnd, sentences);
            if (nl < 0) break;
            lineStart = lineEnd + 1;
        }
    }

    /// <summary>The sentences of cleaned <paramref name="text"/>, in order, trimmed and non-empty.</summary>
    public static List<string> Split(string text)
    {
        var ranges = new List<Range>();
        Split(text, ranges);
        return ranges.Select(r => text[r]).ToList();
    }

    private static void SplitParagraph(ReadOnlySpan<char> text, int start, int end, List<Range> sentences)
    {
        int sentStart = SkipSpace(text, start, end);
        int i = sentStart;
        while (i < end)
        {
            char c = text[i];
            if (c is '\u3002' or '\uFF01' or '\uFF1F')
            {
                // CJK full stops need no following space.
                int j = i + 1;
                while (j < end && IsTerminator(text[j])) j++;
                while (j < end && IsCloser(text[j])) j++;
                Emit(text, sentStart, j, sentences);
                sentStart = i = SkipSpace(text, j, end);
                continue;
            }
            if (!IsTerminator(c)) { i++; continue; }
            int runEnd = i;
            while (runEnd < end && IsTerminator(text[runEnd])) runEnd++;
            int k = runEnd;
            while (k < end && IsCloser(text[k])) k++;
            if (k >= end) break; // the paragraph's end closes the sentence anyway
            bool boundary;
            int next;
            if (IsSpace(text[k]))
            {
                next = SkipSpace(text, k, end);
                if (next >= end) break;
                boundary = EndsSentence(text, sentStart, i, runEnd, next, end);
            }
            else
            {
                // A missing space ("great!The end", "bad.Then"): only split before a capitalised word.
                next = k;
                boundary = k == runEnd && StartsCapitalisedWord(text, k, end) && MissingSpaceBoundary(text, sentStart, i, runEnd);
            }
            if (boundary)
            {
                Emit(text, sentStart, k, sentences);
                sentStart = i = next;
            }
            else i = k > i ? k : i + 1;
        }
        Emit(text, sentStart, end, sentences);
    }

    private static bool EndsSentence(ReadOnlySpan<char> text, int sentStart, int runStart, int runEnd, int next, int end)
    {
        var run = text[runStart..runEnd];
        if (run.IndexOfAny('!', '?') >= 0) return true;
        if (run.Length > 1 || run[0] == '\u2026')
            return StartsUpper(text, next, end); // an ellipsis continues before a lowercase word
        // A single '.': look at the word it ends.
        int w = runStart;
        while (w > sentStart && !IsSpace(text[w - 1])) w--;
        while (w < runStart && IsOpener(text[w])) w++;
        var word = text[w..runStart];
        if (word.Length == 0) return true;
        Span<char> lower = stackalloc char[Math.Min(word.Length, 16)];
        if (word.Length <= 16)
        {
            word.ToLowerInvariant(lower);
            var key = lower[..word.Length];
            var lookupNever = NeverEnd.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookupNever.Contains(key)) return false;
            var lookupCap = EndBeforeCapital.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookupCap.Contains(key)) return StartsUpper(text, next, end);
        }
        if (word.Length == 1 && char.IsUpper(word[0])) return false;           // an initial: "J. R. R. Tolkien"
        if (word.Length == 1 && char.IsLetter(word[0])) return StartsUpper(text, next, end);
        if (IsDottedAcronym(word)) return StartsUpper(text, next, end);       // "U.S.A." "a.m."
        if (w == sentStart && word.Length <= 2 && IsAllDigits(word)) return false; // a list number: "1. The"
        return true;
    }

    private static bool MissingSpaceBoundary(ReadOnlySpan<char> text, int sentStart, int runStart, int runEnd)
    {
        if (text[runStart..runEnd].IndexOfAny('!', '?') >= 0) return true;
        // "bad.Then": the word before must be at least two lowercase letters (not "U.S", "Node.Js", "3.5").
        int w = runStart;
        while (w > sentStart && char.IsLetter(text[w - 1])) w--;
        if (runStart - w < 2) return false;
        if (w > sentStart && !IsSpace(text[w - 1]) && !IsOpener(text[w - 1])) return false;
        for (int i = w; i < runStart; i++) if (!char.IsLower(text[i])) return false;
        return runEnd - runStart == 1 || text[runStart] != '.';
    }

    private static bool StartsCapitalisedWord(ReadOnlySpan<char> text, int k, int end) =>
        k + 1 < end && char.IsUpper(text[k]) && char.IsLower(text[k + 1]);

    private static bool StartsUpper(ReadOnlySpan<char> text, int next, int end)
    {
        while (next < end && IsOpener(text[next])) next++;
        return next < end && (char.IsUpper(text[next]) || char.IsHighSurrogate(text[next]));
    }

    private static bool IsDottedAcronym(ReadOnlySpan<char> word)
    {
        if (word.IndexOf('.') < 0) return false;
        foreach (var part in word.ToString().Split('.'))
            if (part.Length != 1 || !char.IsLetter(part[0])) return false;
        return true;
    }

    private static bool IsAllDigits(ReadOnlySpan<char> s)
    {
        foreach (char c in s) if (!char.IsAsciiDigit(c)) return false;
        return true;
    }

    private static void Emit(ReadOnlySpan<char> text, int start, int end, List<Range> sentences)
    {
        while (start < end && IsSpace(text[start])) start++;
        while (end > start && IsSpace(text[end - 1])) end--;
        if (end > start) sentences.Add(new Range(start, end));
    }

    private static int SkipSpace(ReadOnlySpan<char> text, int i, int end)
    {
        while (i < end && IsSpace(text[i])) i++;
        return i;
    }

    private static bool IsSpace(char c) => c == ' ' || c == '\t' || c == '\r' || (c > 127 && char.IsWhiteSpace(c));
    private static bool IsTerminator(char c) => c is '.' or '!' or '?' or '\u2026' or '\u203C' or '\u2047' or '\u2048' or '\u2049';
    private static bool IsCloser(char c) => c is '"' or '\'' or ')' or ']' or '}' or '\u00BB' or '\u201D' or '\u2019' or '\u203A' or '\u300D' or '\u300F';
    private static bool IsOpener(char c) => c is '"' or '\'' or '(' or '[' or '{' or '\u00AB' or '\u201C' or '\u2018' or '\u2039' or '\u00BF' or '\u00A1' or '\u300C' or '\u300E';
}
