using System.Collections.Frozen;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace BertSharp.Text;

/// <summary>
/// The character classes of Google's tokenization.py, on code points (not UTF-16 units) like Python.
/// Categories come from .NET's tables; lowercasing and accent stripping come from tables generated
/// from Python's unicodedata (<see cref="BertUnicodeData"/>), because .NET in invariant-globalization
/// mode neither normalises nor lowercases U+0130 the way Python does.
/// </summary>
internal static class BertUnicode
{
    // ASCII classes, looked up per char on the fast path.
    internal const byte Other = 0, Space = 1, Drop = 2, Punct = 3;
    private static readonly byte[] AsciiClass = BuildAscii();

    private static readonly FrozenDictionary<int, string> Lower =
        Zip(BertUnicodeData.LowerKeys, BertUnicodeData.LowerValues);
    private static readonly FrozenDictionary<int, string> Strip =
        Zip(BertUnicodeData.StripAccentsKeys, BertUnicodeData.StripAccentsValues);

    private static byte[] BuildAscii()
    {
        var t = new byte[128];
        for (int c = 0; c < 128; c++)
        {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') t[c] = Space;
            else if (c < 32 || c == 127) t[c] = Drop; // Cc (NUL included)
            else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) t[c] = Punct;
        }
        return t;
    }

    private static FrozenDictionary<int, string> Zip(int[] keys, string[] values)
    {
        var d = new Dictionary<int, string>(keys.Length);
        for (int i = 0; i < keys.Length; i++) d[keys[i]] = values[i];
        return d.ToFrozenDictionary();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte AsciiClassOf(char c) => AsciiClass[c];

    /// <summary>Class of any code point: whitespace (space, \t \n \r, Zs; also Zl/Zp, which Python's
    /// str.split() splits on), dropped (NUL, U+FFFD, Cc, Cf), punctuation (ASCII ranges or P*), other.</summary>
    internal static byte ClassOf(int cp)
    {
        if (cp < 128) return AsciiClass[cp];
        if (cp == 0xFFFD) return Drop;
        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.SpaceSeparator:
            case UnicodeCategory.LineSeparator:
            case UnicodeCategory.ParagraphSeparator:
                return Space;
            case UnicodeCategory.Control:
            case UnicodeCategory.Format:
                return Drop;
            case UnicodeCategory.ConnectorPunctuation:
            case UnicodeCategory.DashPunctuation:
            case UnicodeCategory.OpenPunctuation:
            case UnicodeCategory.ClosePunctuation:
            case UnicodeCategory.InitialQuotePunctuation:
            case UnicodeCategory.FinalQuotePunctuation:
            case UnicodeCategory.OtherPunctuation:
                return Punct;
            default:
                return Other;
        }
    }

    internal static bool IsPunctuation(int cp) => ClassOf(cp) == Punct;

    /// <summary>The CJK ideograph blocks of tokenization.py's _is_chinese_char.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsCjk(int cp) =>
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
        (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);

    /// <summary>Appends Python's <c>word.lower()</c> then NFD with category Mn removed, for a word of
    /// code points with at least one non-ASCII char. Final sigma follows Python (Σ at a word end → ς).</summary>
    internal static void LowerAndStripAccents(ReadOnlySpan<char> word, List<char> output, bool lower, bool strip)
    {
        for (int i = 0; i < word.Length;)
        {
            int cp = ReadCodePoint(word, i, out int n);
            string? mapped = null;
            if (lower)
            {
                if (cp == 0x3A3) mapped = IsFinalSigma(word, i) ? "\u03C2" : "\u03C3";
                else if (cp < 128) { if (cp >= 'A' && cp <= 'Z') cp += 32; }
                else Lower.TryGetValue(cp, out mapped);
            }
            if (mapped == null) AppendStripped(cp, output, strip);
            else
                for (int j = 0; j < mapped.Length;)
                {
                    int m = ReadCodePoint(mapped, j, out int mn);
                    AppendStripped(m, output, strip);
                    j += mn;
                }
            i += n;
        }
    }

    private static void AppendStripped(int cp, List<char> output, bool strip)
    {
        if (strip && cp >= 128)
        {
            if (cp >= 0xAC00 && cp <= 0xD7A3)
            {
                // Hangul syllables decompose algorithmically into L V (T) jamo (none of them Mn).
                int s = cp - 0xAC00;
                output.Add((char)(0x1100 + s / 588));
                output.Add((char)(0x1161 + s % 588 / 28));
                if (s % 28 != 0) output.Add((char)(0x11A7 + s % 28));
                return;
            }
            if (Strip.TryGetValue(cp, out var stripped))
            {
                foreach (char c in stripped) output.Add(c);
                return;
            }
        }
        AppendCodePoint(cp, output);
    }

    private static bool IsFinalSigma(ReadOnlySpan<char> word, int at)
    {
        // Python: preceded by a cased letter (skipping case-ignorables), not followed by one.
        bool before = false;
        for (int i = at; i > 0;)
        {
            int cp = ReadCodePointBefore(word, i, out int n);
            i -= n;
            if (IsCaseIgnorable(cp)) continue;
            before = IsCased(cp);
            break;
        }
        if (!before) return false;
        for (int i = at + 1; i < word.Length;)
        {
            int cp = ReadCodePoint(word, i, out int n);
            i += n;
            if (IsCaseIgnorable(cp)) continue;
            return !IsCased(cp);
        }
        return true;
    }

    private static bool IsCased(int cp)
    {
        var c = CharUnicodeInfo.GetUnicodeCategory(cp);
        return c is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;
    }

    private static bool IsCaseIgnorable(int cp)
    {
        if (cp is '\'' or '.' or ':' or '^' or '`' or 0xB7 or 0x2018 or 0x2019 or 0x2024 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A)
            return true;
        var c = CharUnicodeInfo.GetUnicodeCategory(cp);
        return c is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;
    }

    /// <summary>The code point at <paramref name="i"/>; a lone surrogate is returned as itself (as
    /// Python keeps it), never merged or dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int ReadCodePoint(ReadOnlySpan<char> s, int i, out int length)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            length = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        length = 1;
        return c;
    }

    private static int ReadCodePointBefore(ReadOnlySpan<char> s, int end, out int length)
    {
        char c = s[end - 1];
        if (char.IsLowSurrogate(c) && end >= 2 && char.IsHighSurrogate(s[end - 2]))
        {
            length = 2;
            return char.ConvertToUtf32(s[end - 2], c);
        }
        length = 1;
        return c;
    }

    internal static void AppendCodePoint(int cp, List<char> output)
    {
        if (cp < 0x10000) output.Add((char)cp);
        else
        {
            cp -= 0x10000;
            output.Add((char)(0xD800 + (cp >> 10)));
            output.Add((char)(0xDC00 + (cp & 0x3FF)));
        }
    }
}
