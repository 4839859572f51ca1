using System.Net;

namespace BertSharp.Text;

/// <summary>
/// Turns raw document text into the form the splitter and tokenizers read: one paragraph per line
/// ('\n' between paragraphs, none at the ends), runs of whitespace collapsed to one space, lines trimmed.
/// For IMDB, <c>&lt;br /&gt;</c> (any spelling of the tag) becomes a paragraph break and HTML entities are decoded.
/// </summary>
public static class TextCleaner
{
    /// <summary>The cleaned text of <paramref name="raw"/> (see the class): one paragraph per line, whitespace
    /// collapsed.</summary>
    public static string Clean(string raw, TextKind kind)
    {
        char[] buffer = [];
        int n = CleanInto(raw, kind, ref buffer);
        return new string(buffer, 0, n);
    }

    /// <summary>Cleans <paramref name="raw"/> into <paramref name="dest"/> (grown as needed); returns the length.</summary>
    public static int CleanInto(ReadOnlySpan<char> raw, TextKind kind, ref char[] dest)
    {
        bool imdb = kind == TextKind.ImdbReview;
        if (imdb)
        {
            // Entities first: an encoded "&lt;br /&gt;" then counts as a break too, which is harmless.
            if (raw.IndexOf('&') >= 0) raw = WebUtility.HtmlDecode(raw.ToString());
            kind = TextKind.Lines;
        }
        // The output is never longer than the input.
        if (dest.Length < raw.Length) dest = new char[Math.Max(raw.Length, Math.Min(dest.Length * 2, 1 << 22))];
        var output = dest;
        int n = 0;
        bool pendingSpace = false;
        int pendingNewlines = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c == '\n') { pendingNewlines++; continue; }
            if (imdb && c == '<')
            {
                int end = MatchBreak(raw, i);
                if (end > 0)
                {
                    pendingNewlines++;
                    i = end - 1;
                    continue;
                }
            }
            if (c == ' ' || c == '\t' || c == '\r' || (c > 127 && char.IsWhiteSpace(c)) || c == '\v' || c == '\f')
            {
                pendingSpace = true;
                continue;
            }
            if (n > 0)
            {
                bool paragraph = kind == TextKind.Lines ? pendingNewlines >= 1 : pendingNewlines >= 2;
                if (paragraph) output[n++] = '\n';
                else if (pendingSpace || pendingNewlines > 0) output[n++] = ' ';
            }
            pendingSpace = false;
            pendingNewlines = 0;
            output[n++] = c;
        }
        return n;
    }

    /// <summary>The end of a <c>&lt;br&gt;</c>, <c>&lt;br/&gt;</c> or <c>&lt;br /&gt;</c> tag (any case) starting at <paramref name="i"/>, or −1.</summary>
    private static int MatchBreak(ReadOnlySpan<char> s, int i)
    {
        if (i + 3 >= s.Length || (s[i + 1] | 0x20) != 'b' || (s[i + 2] | 0x20) != 'r') return -1;
        int j = i + 3;
        while (j < s.Length && s[j] == ' ') j++;
        if (j < s.Length && s[j] == '/') j++;
        return j < s.Length && s[j] == '>' ? j + 1 : -1;
    }
}
