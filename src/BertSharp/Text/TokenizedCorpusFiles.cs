namespace BertSharp.Text;

/// <summary>
/// The tokenized corpus on disk (format in docs/TEXT.md): <c>tokens.bin</c> (ids, uint16 or int32),
/// <c>sentences.bin</c> (int64 start of each sentence in tokens, plus the total), <c>documents.bin</c>
/// (16-byte records: int64 first sentence, int16 split, int8 label, uint8 rating, 4 reserved; plus a
/// final record whose first sentence is the total) and <c>manifest.json</c>.
/// </summary>
public static class TokenizedCorpusFiles
{
    /// <summary>File names inside a store's folder.</summary>
    public const string Tokens = "tokens.bin", Sentences = "sentences.bin", Documents = "documents.bin", Manifest = "manifest.json";
    /// <summary>Size of one record of documents.bin.</summary>
    public const int DocumentRecordBytes = 16;
}
