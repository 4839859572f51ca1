using System.Text.Json;
using System.Text.Json.Serialization;

namespace BertSharp.Text;

/// <summary>manifest.json of a tokenized corpus: what it was built from and what it holds. Written last,
/// so a folder without it is an unfinished build.</summary>
public sealed class TokenizedCorpusManifest
{
    /// <summary>The format version this code writes and reads; a store of another version is rebuilt.</summary>
    public const int CurrentFormatVersion = 1;
    /// <summary>The format version of this store.</summary>
    public int FormatVersion { get; set; } = CurrentFormatVersion;
    /// <summary>SHA-256 of everything that determines the content (input fingerprint, vocabulary, settings).</summary>
    public string BuildKey { get; set; } = "";
    /// <summary>Path of the corpus it was built from.</summary>
    public string Source { get; set; } = "";
    /// <summary>The reader's <see cref="CorpusFormat"/>, as a name.</summary>
    public string SourceFormat { get; set; } = "";
    /// <summary>The reader's fingerprint of the input (sizes and times, see <see
    /// cref="CorpusReader.Fingerprint"/>).</summary>
    public string SourceFingerprint { get; set; } = "";
    /// <summary>Full path of the vocab.txt used.</summary>
    public string VocabularyPath { get; set; } = "";
    /// <summary>SHA-256 of that vocabulary.</summary>
    public string VocabularySha256 { get; set; } = "";
    /// <summary>Vocabulary size (ids are below it).</summary>
    public int VocabSize { get; set; }
    /// <summary>Ids of [PAD], [UNK], [CLS], [SEP], [MASK], in that order.</summary>
    public int[] SpecialTokenIds { get; set; } = [];
    /// <summary>Whether the text was lower-cased (uncased tokenizer).</summary>
    public bool LowerCase { get; set; }
    /// <summary>WordPiece's limit: longer words become [UNK].</summary>
    public int MaxInputCharsPerWord { get; set; }
    /// <see cref="CorpusTokenizer.Version"/> of the code that built the store.
    public string TokenizerVersion { get; set; } = "";
    /// <summary>2 (uint16) when every id fits, else 4 (int32); little-endian.</summary>
    public int IdBytes { get; set; }
    /// <summary>Non-empty documents stored.</summary>
    public long Documents { get; set; }
    /// <summary>Sentences stored.</summary>
    public long Sentences { get; set; }
    /// <summary>Tokens stored.</summary>
    public long Tokens { get; set; }
    /// <summary>Basic-tokenizer words (before WordPiece).</summary>
    public long Words { get; set; }
    /// <summary>Tokens that came out as [UNK].</summary>
    public long UnkTokens { get; set; }
    /// <summary>Documents without any token, left out.</summary>
    public long EmptyDocumentsDropped { get; set; }
    /// <summary>Invalid UTF-8 sequences the reader replaced.</summary>
    public long InvalidUtf8 { get; set; }
    /// <summary>Names of the documents' splits (<see cref="ITokenizedCorpus.SplitNames"/>).</summary>
    public string[] SplitNames { get; set; } = [];
    /// <summary>Counts per split, in the order of <see cref="SplitNames"/>.</summary>
    public SplitCounts[] Splits { get; set; } = [];
    /// <summary>When the store was completed.</summary>
    public DateTime CreatedUtc { get; set; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Reads a manifest; <see cref="InvalidDataException"/> when it is not valid JSON of this shape.</summary>
    public static TokenizedCorpusManifest Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TokenizedCorpusManifest>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: empty manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: unreadable manifest ({e.Message.Split('.')[0]})");
        }
    }

    /// <summary>Writes the manifest atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, Json));
        File.Move(tmp, path, overwrite: true);
    }
}
