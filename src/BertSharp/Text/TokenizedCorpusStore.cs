using System.IO.MemoryMappedFiles;

namespace BertSharp.Text;

/// <summary>A tokenized corpus opened from disk, memory-mapped (nothing is loaded up front). Safe for
/// concurrent readers; dispose to unmap.</summary>
public sealed unsafe class TokenizedCorpusStore : ITokenizedCorpus, IDisposable
{
    private readonly MappedFile _tokens, _sentences, _documents;
    private readonly byte* _tokenBase;
    private readonly long* _sentenceStarts;
    private readonly DocumentRecord* _docs;
    private readonly bool _wide;

    private TokenizedCorpusStore(string dir, TokenizedCorpusManifest manifest)
    {
        Directory = dir;
        Manifest = manifest;
        _wide = manifest.IdBytes == 4;
        _tokens = new MappedFile(Path.Combine(dir, TokenizedCorpusFiles.Tokens));
        _sentences = new MappedFile(Path.Combine(dir, TokenizedCorpusFiles.Sentences));
        _documents = new MappedFile(Path.Combine(dir, TokenizedCorpusFiles.Documents));
        _tokenBase = _tokens.Pointer;
        _sentenceStarts = (long*)_sentences.Pointer;
        _docs = (DocumentRecord*)_documents.Pointer;
    }

    /// <summary>Full path of the store's folder.</summary>
    public string Directory { get; }
    /// <summary>The store's manifest.</summary>
    public TokenizedCorpusManifest Manifest { get; }
    /// <summary>Tokens in the whole store.</summary>
    public long TokenCount => Manifest.Tokens;
    /// <summary>Sentences in the whole store.</summary>
    public long TotalSentences => Manifest.Sentences;
    /// <inheritdoc/>
    public int DocumentCount => (int)Manifest.Documents;
    /// <inheritdoc/>
    public int VocabSize => Manifest.VocabSize;
    /// <inheritdoc/>
    public IReadOnlyList<string> SplitNames => Manifest.SplitNames;
    /// <summary>Ids of the special tokens in the store's vocabulary.</summary>
    public SpecialTokenIds SpecialTokenIds =>
        new(Manifest.SpecialTokenIds[0], Manifest.SpecialTokenIds[1], Manifest.SpecialTokenIds[2], Manifest.SpecialTokenIds[3], Manifest.SpecialTokenIds[4]);

    /// <summary>True when <paramref name="dir"/> holds a complete store (manifest present, file sizes consistent).</summary>
    public static bool IsComplete(string dir, out TokenizedCorpusManifest? manifest)
    {
        manifest = null;
        var path = Path.Combine(dir, TokenizedCorpusFiles.Manifest);
        if (!File.Exists(path)) return false;
        try { manifest = TokenizedCorpusManifest.Load(path); }
        catch (InvalidDataException) { return false; }
        return Problem(dir, manifest) == null;
    }

    private static string? Problem(string dir, TokenizedCorpusManifest m)
    {
        if (m.FormatVersion != TokenizedCorpusManifest.CurrentFormatVersion) return $"format version {m.FormatVersion}, expected {TokenizedCorpusManifest.CurrentFormatVersion}";
        if (m.IdBytes is not (2 or 4)) return $"id width {m.IdBytes} bytes";
        if (m.SpecialTokenIds.Length != 5) return "special token ids missing";
        if (m.Documents > int.MaxValue) return "too many documents";
        (string Name, long Bytes)[] expect =
        [
            (TokenizedCorpusFiles.Tokens, m.Tokens * m.IdBytes),
            (TokenizedCorpusFiles.Sentences, (m.Sentences + 1) * 8),
            (TokenizedCorpusFiles.Documents, (m.Documents + 1) * TokenizedCorpusFiles.DocumentRecordBytes),
        ];
        foreach (var (name, bytes) in expect)
        {
            var fi = new FileInfo(Path.Combine(dir, name));
            if (!fi.Exists) return $"{name} is missing";
            if (fi.Length != bytes) return $"{name} has {fi.Length:N0} bytes, the manifest implies {bytes:N0}";
        }
        return null;
    }

    /// <summary>Opens (memory-maps) the store in <paramref name="dir"/>; <see cref="InvalidDataException"/> when it is
    /// unfinished or its files do not match the manifest.</summary>
    public static TokenizedCorpusStore Open(string dir)
    {
        var path = Path.Combine(dir, TokenizedCorpusFiles.Manifest);
        if (!File.Exists(path)) throw new InvalidDataException($"{dir}: not a tokenized corpus (no {TokenizedCorpusFiles.Manifest}; an unfinished build leaves none)");
        var m = TokenizedCorpusManifest.Load(path);
        var problem = Problem(dir, m);
        if (problem != null) throw new InvalidDataException($"{dir}: corrupt tokenized corpus ({problem})");
        return new TokenizedCorpusStore(Path.GetFullPath(dir), m);
    }

    private long FirstSentence(int document)
    {
        if ((uint)document >= (uint)DocumentCount) throw new ArgumentOutOfRangeException(nameof(document), $"document {document} is outside 0..{DocumentCount - 1}");
        return _docs[document].FirstSentence;
    }

    /// <inheritdoc/>
    public int SentenceCount(int document)
    {
        long first = FirstSentence(document);
        return (int)(_docs[document + 1].FirstSentence - first);
    }

    private long SentenceIndex(int document, int sentence)
    {
        long first = FirstSentence(document);
        long count = _docs[document + 1].FirstSentence - first;
        if ((ulong)sentence >= (ulong)count) throw new ArgumentOutOfRangeException(nameof(sentence), $"sentence {sentence} is outside 0..{count - 1} of document {document}");
        return first + sentence;
    }

    /// <inheritdoc/>
    public int SentenceLength(int document, int sentence)
    {
        long s = SentenceIndex(document, sentence);
        return (int)(_sentenceStarts[s + 1] - _sentenceStarts[s]);
    }

    /// <inheritdoc/>
    public int CopySentence(int document, int sentence, Span<int> destination)
    {
        long s = SentenceIndex(document, sentence);
        long start = _sentenceStarts[s];
        int length = (int)(_sentenceStarts[s + 1] - start);
        if (destination.Length < length) throw new ArgumentException($"destination: need {length} ints, got {destination.Length}", nameof(destination));
        if (_wide) new ReadOnlySpan<int>((int*)_tokenBase + start, length).CopyTo(destination);
        else
        {
            var src = new ReadOnlySpan<ushort>((ushort*)_tokenBase + start, length);
            for (int i = 0; i < length; i++) destination[i] = src[i];
        }
        return length;
    }

    /// <inheritdoc/>
    public DocumentInfo GetDocumentInfo(int document)
    {
        FirstSentence(document);
        var r = _docs[document];
        return new DocumentInfo(r.Split, r.Label, r.Rating);
    }

    /// <summary>Unmaps the files; the store must not be read afterwards.</summary>
    public void Dispose()
    {
        _tokens.Dispose();
        _sentences.Dispose();
        _documents.Dispose();
    }

    /// <summary>A read-only mapping of a whole file; an empty file maps to a null pointer (never read).</summary>
    private sealed class MappedFile : IDisposable
    {
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private bool _disposed;

        public MappedFile(string path)
        {
            long length = new FileInfo(path).Length;
            if (length == 0) return;
            _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            Pointer = p + _view.PointerOffset;
        }

        public byte* Pointer { get; }

        public void Dispose()
        {
            if (_view == null || _disposed) return;
            _disposed = true;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _file!.Dispose();
        }
    }
}
