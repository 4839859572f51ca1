using BertSharp.Files;
using System.Security.Cryptography;
using System.Text;

namespace BertSharp.Text;

/// <summary>
/// A BERT vocabulary: <c>vocab.txt</c>, one token per line, the line number is the id, <c>##</c> marks a
/// word continuation. Loads published vocabularies unchanged (bert-base-uncased keeps its special tokens
/// at 0 and 100..103); the ones we train put them first: [PAD] [UNK] [CLS] [SEP] [MASK] = 0..4.
/// Immutable and thread-safe.
/// </summary>
public sealed class Vocabulary
{
    /// <summary>BERT's special tokens.</summary>
    public const string Pad = "[PAD]", Unk = "[UNK]", Cls = "[CLS]", Sep = "[SEP]", Mask = "[MASK]";
    /// <summary>Marks a piece that continues a word.</summary>
    public const string ContinuationPrefix = "##";

    /// <summary>The special tokens in the order our trained vocabularies list them.</summary>
    public static IReadOnlyList<string> DefaultSpecialTokens { get; } = [Pad, Unk, Cls, Sep, Mask];

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idsBySpan;
    // "##xyz" indexed by "xyz", so a continuation lookup needs no concatenation.
    private readonly Dictionary<string, int> _continuations;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _continuationsBySpan;

    private Vocabulary(string[] tokens, string source)
    {
        _tokens = tokens;
        _ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        _continuations = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
        {
            var t = tokens[i];
            // Google's load_vocab keeps the last id of a duplicate line; so do we.
            _ids[t] = i;
            if (t.Length > ContinuationPrefix.Length && t.StartsWith(ContinuationPrefix, StringComparison.Ordinal))
                _continuations[t[ContinuationPrefix.Length..]] = i;
            MaxTokenChars = Math.Max(MaxTokenChars, t.Length);
        }
        _idsBySpan = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _continuationsBySpan = _continuations.GetAlternateLookup<ReadOnlySpan<char>>();
        var missing = DefaultSpecialTokens.Where(s => !_ids.ContainsKey(s)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{source}: the vocabulary lacks the special token{(missing.Count > 1 ? "s" : "")} {string.Join(" ", missing)}");
        SpecialIds = new SpecialTokenIds(_ids[Pad], _ids[Unk], _ids[Cls], _ids[Sep], _ids[Mask]);
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", tokens))));
    }

    /// <summary>Number of tokens (ids are 0..Count − 1).</summary>
    public int Count => _tokens.Length;
    /// <summary>Ids of the five special tokens in this vocabulary.</summary>
    public SpecialTokenIds SpecialIds { get; }
    /// <summary>Longest token in UTF-16 chars (bounds the WordPiece longest-match search).</summary>
    public int MaxTokenChars { get; }
    /// <summary>SHA-256 (hex) of the tokens joined by newlines: identifies the vocabulary in manifests.</summary>
    public string Sha256 { get; }
    /// <summary>The tokens, indexed by id.</summary>
    public IReadOnlyList<string> Tokens => _tokens;
    /// <summary>The token of <paramref name="id"/>.</summary>
    public string this[int id] => _tokens[id];

    /// <summary>A vocabulary of <paramref name="tokens"/> in id order; <see cref="InvalidDataException"/> naming
    /// <paramref name="source"/> when a special token is missing.</summary>
    public static Vocabulary FromTokens(IEnumerable<string> tokens, string source = "vocabulary") =>
        new(tokens.ToArray(), source);

    /// <summary>Loads vocab.txt: UTF-8, one token per line (trailing CR/LF removed, as HuggingFace does).</summary>
    public static Vocabulary Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: vocabulary file not found", path);
        var tokens = new List<string>();
        using (var reader = new StreamReader(path, new UTF8Encoding(false, true)))
        {
            try
            {
                for (string? line; (line = reader.ReadLine()) != null;)
                {
                    if (line.Contains('\0')) throw new InvalidDataException($"{path}: not a vocabulary (binary data on line {tokens.Count + 1})");
                    tokens.Add(line);
                }
            }
            catch (DecoderFallbackException)
            {
                throw new InvalidDataException($"{path}: not a vocabulary (invalid UTF-8 on line {tokens.Count + 1})");
            }
        }
        if (tokens.Count == 0) throw new InvalidDataException($"{path}: the vocabulary is empty");
        return new Vocabulary(tokens.ToArray(), path);
    }

    /// <summary>Writes vocab.txt (UTF-8, no BOM, "\n" after every token) via a temporary file and a rename; never over a
    /// device, pipe or symbolic link (<see cref="AtomicFile"/>).</summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(full, s =>
        {
            using var w = new StreamWriter(s, new UTF8Encoding(false)) { NewLine = "\n" };
            foreach (var t in _tokens) w.WriteLine(t);
        });
    }

    /// <summary>The id of <paramref name="token"/>; false when the vocabulary does not hold it.</summary>
    public bool TryGetId(ReadOnlySpan<char> token, out int id) => _idsBySpan.TryGetValue(token, out id);

    /// <summary>The id of <c>"##" + piece</c>.</summary>
    public bool TryGetContinuationId(ReadOnlySpan<char> piece, out int id) => _continuationsBySpan.TryGetValue(piece, out id);

    /// <summary>The id of <paramref name="token"/>, or [UNK]'s.</summary>
    public int GetIdOrUnk(ReadOnlySpan<char> token) => _idsBySpan.TryGetValue(token, out int id) ? id : SpecialIds.Unk;
}
