using System.Text;

namespace BertSharp.Text;

/// <summary>One document as a reader produced it: raw text (or its UTF-8 bytes, decoded by the worker
/// that cleans it, so the reader thread does less and no raw string is allocated), how to clean it,
/// and where it came from.</summary>
public sealed class CorpusDocument
{
    private readonly string? _text;
    private readonly byte[]? _utf8;
    private readonly Encoding? _encoding;
    [ThreadStatic] private static char[]? t_decoded;

    /// <summary>A document held as a string.</summary>
    public CorpusDocument(string rawText, TextKind kind, DocumentInfo info, string name)
    {
        _text = rawText;
        Kind = kind;
        Info = info;
        Name = name;
    }

    /// <summary>A document kept as UTF-8 bytes; <paramref name="encoding"/> decodes them (replacing and counting invalid sequences).</summary>
    public CorpusDocument(byte[] utf8, Encoding encoding, TextKind kind, DocumentInfo info, string name)
    {
        _utf8 = utf8;
        _encoding = encoding;
        Kind = kind;
        Info = info;
        Name = name;
    }

    /// <summary>How its raw text marks lines and paragraphs (what cleaning does with newlines).</summary>
    public TextKind Kind { get; }
    /// <summary>Its split, label and rating.</summary>
    public DocumentInfo Info { get; }
    /// <summary>File or archive entry (plus line number for multi-document files), for messages.</summary>
    public string Name { get; }
    /// <summary>Size of the raw text in chars (or UTF-8 bytes): what batching and progress count.</summary>
    public int Length => _text?.Length ?? _utf8!.Length;

    /// <summary>The raw text (decoded on each call when held as bytes).</summary>
    public string RawText => _text ?? _encoding!.GetString(_utf8!);

    /// <summary>The cleaned text, one paragraph per line (see <see cref="TextCleaner"/>).</summary>
    public string CleanText()
    {
        char[] buffer = [];
        int n = CleanInto(ref buffer);
        return new string(buffer, 0, n);
    }

    /// <summary>Writes the cleaned text into <paramref name="buffer"/> (grown as needed) and returns its length.</summary>
    public int CleanInto(ref char[] buffer)
    {
        if (_text != null) return TextCleaner.CleanInto(_text, Kind, ref buffer);
        var decoded = t_decoded ??= new char[1 << 14];
        int max = _encoding!.GetMaxCharCount(_utf8!.Length);
        if (decoded.Length < max) t_decoded = decoded = new char[Math.Max(max, decoded.Length * 2)];
        int n = _encoding.GetChars(_utf8, 0, _utf8.Length, decoded, 0);
        int length = TextCleaner.CleanInto(decoded.AsSpan(0, n), Kind, ref buffer);
        if (decoded.Length > 1 << 22) t_decoded = null; // don't keep a huge buffer per thread
        return length;
    }
}
