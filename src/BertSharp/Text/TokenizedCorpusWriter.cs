using System.Runtime.InteropServices;

namespace BertSharp.Text;

/// <summary>Writes a tokenized corpus streaming (constant memory), into temporary files that become the
/// real ones only in <see cref="Complete"/>; disposing without completing deletes them.</summary>
public sealed class TokenizedCorpusWriter : IDisposable
{
    private readonly string _dir;
    private readonly BufferedStream _tokens, _sentences, _documents;
    private readonly int _idBytes;
    private readonly int _vocabSize;
    private readonly byte[] _scratch = new byte[1 << 16];
    private long _tokenCount, _sentenceCount, _documentCount;
    private bool _completed;

    /// <summary>Starts a store in <paramref name="dir"/> (created if needed; an old manifest there is deleted first).
    /// Ids are stored as uint16 when <paramref name="vocabSize"/> ≤ 65536, else int32.</summary>
    public TokenizedCorpusWriter(string dir, int vocabSize)
    {
        _dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(_dir);
        // An old manifest would make a half-written folder look complete: remove it first.
        File.Delete(Path.Combine(_dir, TokenizedCorpusFiles.Manifest));
        _vocabSize = vocabSize;
        _idBytes = vocabSize <= 65536 ? 2 : 4;
        _tokens = Open(TokenizedCorpusFiles.Tokens);
        _sentences = Open(TokenizedCorpusFiles.Sentences);
        _documents = Open(TokenizedCorpusFiles.Documents);
    }

    /// <summary>Bytes per stored id: 2 or 4.</summary>
    public int IdBytes => _idBytes;
    /// <summary>Tokens written so far.</summary>
    public long TokenCount => _tokenCount;
    /// <summary>Sentences written so far.</summary>
    public long SentenceCount => _sentenceCount;
    /// <summary>Documents written so far.</summary>
    public long DocumentCount => _documentCount;

    private BufferedStream Open(string name) =>
        new(new FileStream(Path.Combine(_dir, name + ".tmp"), FileMode.Create, FileAccess.Write, FileShare.None, 1), 1 << 20);

    /// <summary>Appends one document: its ids back to back and the length of each sentence (all &gt; 0).</summary>
    public void AddDocument(ReadOnlySpan<int> ids, ReadOnlySpan<int> sentenceLengths, DocumentInfo info)
    {
        if (sentenceLengths.Length == 0) throw new ArgumentException("sentenceLengths: a document needs at least one sentence", nameof(sentenceLengths));
        long sum = 0;
        foreach (int l in sentenceLengths)
        {
            if (l <= 0) throw new ArgumentException($"sentenceLengths: sentence length {l} is not positive", nameof(sentenceLengths));
            sum += l;
        }
        if (sum != ids.Length) throw new ArgumentException($"ids: the sentence lengths add up to {sum}, got {ids.Length} ids", nameof(ids));
        if (info.Split is < 0 or > short.MaxValue || info.Label is < -128 or > 127 || info.Rating is < 0 or > 255)
            throw new ArgumentException($"info: {info} does not fit the store's document record", nameof(info));

        WriteDocumentRecord(_sentenceCount, info);
        foreach (int l in sentenceLengths)
        {
            WriteInt64(_sentences, _tokenCount);
            _tokenCount += l;
            _sentenceCount++;
        }
        WriteIds(ids);
        _documentCount++;
    }

    private void WriteIds(ReadOnlySpan<int> ids)
    {
        int perChunk = _scratch.Length / _idBytes;
        for (int start = 0; start < ids.Length; start += perChunk)
        {
            var chunk = ids.Slice(start, Math.Min(perChunk, ids.Length - start));
            if (_idBytes == 2)
            {
                var dst = MemoryMarshal.Cast<byte, ushort>(_scratch.AsSpan(0, chunk.Length * 2));
                for (int i = 0; i < chunk.Length; i++)
                {
                    int id = chunk[i];
                    if ((uint)id >= (uint)_vocabSize) throw new ArgumentException($"ids: id {id} is outside the vocabulary of {_vocabSize}", nameof(ids));
                    dst[i] = (ushort)id;
                }
                _tokens.Write(_scratch, 0, chunk.Length * 2);
            }
            else
            {
                foreach (int id in chunk)
                    if ((uint)id >= (uint)_vocabSize) throw new ArgumentException($"ids: id {id} is outside the vocabulary of {_vocabSize}", nameof(ids));
                _tokens.Write(MemoryMarshal.AsBytes(chunk));
            }
        }
    }

    private void WriteDocumentRecord(long firstSentence, DocumentInfo info)
    {
        var r = new DocumentRecord { FirstSentence = firstSentence, Split = (short)info.Split, Label = (sbyte)info.Label, Rating = (byte)info.Rating };
        _documents.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<DocumentRecord>(in r)));
    }

    private static void WriteInt64(Stream s, long v)
    {
        Span<byte> b = stackalloc byte[8];
        BitConverter.TryWriteBytes(b, v);
        s.Write(b);
    }

    /// <summary>Writes the closing records, renames the files into place and writes the manifest last.</summary>
    public void Complete(TokenizedCorpusManifest manifest)
    {
        WriteInt64(_sentences, _tokenCount);
        WriteDocumentRecord(_sentenceCount, new DocumentInfo(0, -1, 0));
        foreach (var s in new[] { _tokens, _sentences, _documents })
        {
            s.Flush();
            ((FileStream)s.UnderlyingStream).Flush(flushToDisk: true);
            s.Dispose();
        }
        foreach (var name in new[] { TokenizedCorpusFiles.Tokens, TokenizedCorpusFiles.Sentences, TokenizedCorpusFiles.Documents })
            File.Move(Path.Combine(_dir, name + ".tmp"), Path.Combine(_dir, name), overwrite: true);
        manifest.IdBytes = _idBytes;
        manifest.VocabSize = _vocabSize;
        manifest.Documents = _documentCount;
        manifest.Sentences = _sentenceCount;
        manifest.Tokens = _tokenCount;
        manifest.Save(Path.Combine(_dir, TokenizedCorpusFiles.Manifest));
        _completed = true;
    }

    /// <summary>Without <see cref="Complete"/>: closes and deletes the temporary files. After it: nothing.</summary>
    public void Dispose()
    {
        if (_completed) return;
        _completed = true;
        foreach (var s in new[] { _tokens, _sentences, _documents })
            try { s.Dispose(); } catch (IOException) { }
        foreach (var name in new[] { TokenizedCorpusFiles.Tokens, TokenizedCorpusFiles.Sentences, TokenizedCorpusFiles.Documents })
            File.Delete(Path.Combine(_dir, name + ".tmp"));
    }
}
