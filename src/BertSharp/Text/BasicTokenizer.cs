namespace BertSharp.Text;

/// <summary>
/// BERT's basic tokenizer as Google's tokenization.py defines it: drop NUL, U+FFFD and Cc/Cf
/// characters (tab, CR, LF are whitespace); split on whitespace; put CJK ideographs in words of their
/// own; in uncased mode lowercase then strip accents (NFD, drop Mn); split off every punctuation
/// character (ASCII symbol ranges and Unicode P*). Special tokens (<c>[CLS]</c> etc.) found anywhere in
/// the text are kept whole, as HuggingFace does. Not thread-safe (reuses its buffers): one per thread.
/// </summary>
public sealed class BasicTokenizer
{
    private readonly string[] _neverSplit;
    private char[] _word = new char[256];
    private readonly List<char> _folded = new(64);

    /// <paramref name="lowerCase"/>: uncased BERT (lower-case, strip accents). <paramref name="neverSplit"/>: tokens kept whole wherever they occur (BERT's special tokens when null).
    public BasicTokenizer(bool lowerCase = true, IEnumerable<string>? neverSplit = null)
    {
        LowerCase = lowerCase;
        _neverSplit = (neverSplit ?? Vocabulary.DefaultSpecialTokens).Where(s => s.Length > 0)
            .OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal).ToArray();
    }

    /// <summary>True when the tokenizer lower-cases and strips accents.</summary>
    public bool LowerCase { get; }

    /// <summary>The words of <paramref name="text"/>, punctuation split off.</summary>
    public List<string> Tokenize(string text)
    {
        var words = new WordList();
        Tokenize(text, words);
        return words.ToList();
    }

    /// <summary>Appends the words of <paramref name="text"/> to <paramref name="output"/>.</summary>
    public void Tokenize(ReadOnlySpan<char> text, WordList output)
    {
        if (_neverSplit.Length > 0 && text.IndexOf('[') >= 0)
        {
            // Cut the text around special tokens; each piece between them is tokenized normally.
            int from = 0;
            for (int i = text.IndexOf('['); i >= 0 && i < text.Length;)
            {
                string? hit = null;
                foreach (var s in _neverSplit)
                    if (text[i..].StartsWith(s, StringComparison.Ordinal)) { hit = s; break; }
                if (hit == null)
                {
                    int next = text[(i + 1)..].IndexOf('[');
                    i = next < 0 ? -1 : i + 1 + next;
                    continue;
                }
                TokenizeSegment(text[from..i], output);
                output.Add(hit);
                i += hit.Length;
                from = i;
                int n = text[i..].IndexOf('[');
                i = n < 0 ? -1 : i + n;
            }
            TokenizeSegment(text[from..], output);
            return;
        }
        TokenizeSegment(text, output);
    }

    private void TokenizeSegment(ReadOnlySpan<char> text, WordList output)
    {
        // The current whitespace-delimited word, ASCII letters already lowercased in uncased mode
        // (harmless for the non-ASCII path, which lowercases again, idempotently).
        var word = _word;
        int length = 0;
        bool nonAscii = false;
        bool lower = LowerCase;
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (length + 2 > word.Length) Array.Resize(ref word, word.Length * 2);
            if (c < 128)
            {
                i++;
                byte cls = BertUnicode.AsciiClassOf(c);
                if (cls == BertUnicode.Other || cls == BertUnicode.Punct)
                    word[length++] = lower && (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c + 32) : c;
                else if (cls == BertUnicode.Space && length > 0)
                {
                    FlushWord(word.AsSpan(0, length), output, nonAscii);
                    length = 0;
                    nonAscii = false;
                }
                continue;
            }
            int cp = BertUnicode.ReadCodePoint(text, i, out int n);
            i += n;
            byte k = BertUnicode.ClassOf(cp);
            if (k == BertUnicode.Drop) continue;
            if (k == BertUnicode.Space || BertUnicode.IsCjk(cp))
            {
                if (length > 0) FlushWord(word.AsSpan(0, length), output, nonAscii);
                length = 0;
                nonAscii = false;
                if (k == BertUnicode.Space) continue;
                // A CJK ideograph is a word of its own (and goes through lowercasing/NFD, which maps
                // the compatibility ideographs F900..FAFF to their unified forms).
                text.Slice(i - n, n).CopyTo(word);
                FlushWord(word.AsSpan(0, n), output, nonAscii: true);
                continue;
            }
            text.Slice(i - n, n).CopyTo(word.AsSpan(length));
            length += n;
            nonAscii = true;
        }
        if (length > 0) FlushWord(word.AsSpan(0, length), output, nonAscii);
        _word = word;
    }

    private void FlushWord(ReadOnlySpan<char> w, WordList output, bool nonAscii)
    {
        if (LowerCase && nonAscii)
        {
            _folded.Clear();
            BertUnicode.LowerAndStripAccents(w, _folded, lower: true, strip: true);
            w = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_folded);
        }
        SplitOnPunctuation(w, output, nonAscii);
    }

    private static void SplitOnPunctuation(ReadOnlySpan<char> w, WordList output, bool nonAscii)
    {
        int start = 0;
        for (int i = 0; i < w.Length;)
        {
            char c = w[i];
            int n = 1;
            bool punct;
            if (c < 128) punct = BertUnicode.AsciiClassOf(c) == BertUnicode.Punct;
            else if (!nonAscii) punct = false; // unreachable in practice: ASCII words hold only ASCII
            else punct = BertUnicode.IsPunctuation(BertUnicode.ReadCodePoint(w, i, out n));
            if (punct)
            {
                if (i > start) output.Add(w[start..i]);
                output.Add(w.Slice(i, n));
                start = i + n;
            }
            i += n;
        }
        if (start < w.Length) output.Add(w[start..]);
    }
}
