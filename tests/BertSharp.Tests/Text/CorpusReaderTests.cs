using System.Text;
using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class CorpusReaderTests
{
    [Theory]
    [InlineData("Great<br /><br />movie", "Great\nmovie")]
    [InlineData("a<br/>b<BR>c<br  />d", "a\nb\nc\nd")]
    [InlineData("Tom &amp; Jerry &quot;rock&quot; &#233;t&eacute; &lt;3", "Tom & Jerry \"rock\" été <3")]
    [InlineData("  lots   of\tspace \u00a0here  ", "lots of space here")]
    [InlineData("<br /><br />Start and end<br /><br />", "Start and end")]
    [InlineData("<b>bold</b> stays", "<b>bold</b> stays")]
    public void CleansImdbReviews(string raw, string expected) =>
        Assert.Equal(expected, TextCleaner.Clean(raw, TextKind.ImdbReview));

    [Fact]
    public void CleanerReadsNewlinesByKind()
    {
        const string raw = "line one\nline two\n\n\nnext  paragraph\r\n";
        Assert.Equal("line one\nline two\nnext paragraph", TextCleaner.Clean(raw, TextKind.Lines));
        Assert.Equal("line one line two\nnext paragraph", TextCleaner.Clean(raw, TextKind.Paragraphs));
    }

    [Theory]
    [InlineData("aclImdb/train/pos/123_8.txt", 0, 1, 8)]
    [InlineData("aclImdb/train/neg/5_1.txt", 1, 0, 1)]
    [InlineData("aclImdb/train/unsup/77_0.txt", 2, -1, 0)]
    [InlineData("aclImdb/test/pos/0_10.txt", 3, 1, 10)]
    [InlineData("x/aclImdb/test/neg/9_4.txt", 4, 0, 4)]
    public void ParsesImdbEntries(string name, int split, int label, int rating)
    {
        Assert.True(ImdbCorpusReader.TryParseEntry(name, out var info));
        Assert.Equal(new DocumentInfo(split, label, rating), info);
    }

    [Theory]
    [InlineData("aclImdb/train/urls_pos.txt")]
    [InlineData("aclImdb/imdb.vocab")]
    [InlineData("aclImdb/train/pos/notanumber.txt")]
    [InlineData("aclImdb/test/unsup/1_0.txt")]
    public void IgnoresOtherImdbFiles(string name) => Assert.False(ImdbCorpusReader.TryParseEntry(name, out _));

    [Fact]
    public void ReadsImdbFromTheArchiveStreamAndFromAFolderAlike()
    {
        using var dir = new TextTestSupport.TempDir();
        var files = TextTestSupport.TinyImdb();
        TextTestSupport.WriteTarGz(dir["imdb.tar.gz"], files);
        var fromArchive = CorpusReader.Open(dir["imdb.tar.gz"]);
        Assert.IsType<ImdbCorpusReader>(fromArchive);
        var docs = fromArchive.ReadDocuments().ToList();
        Assert.Equal(9, docs.Count);
        Assert.Equal(9, fromArchive.Stats.Documents);
        var first = docs.Single(d => d.Name.EndsWith("train/pos/0_9.txt"));
        Assert.Equal(new DocumentInfo(0, 1, 9), first.Info);
        Assert.Equal("A great movie. I loved it!\nMr. Smith was superb.", first.CleanText());

        foreach (var (name, text) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(dir[name])!);
            File.WriteAllText(dir[name], text);
        }
        var fromFolder = CorpusReader.Open(dir.Path); // the folder holding aclImdb/
        Assert.IsType<ImdbCorpusReader>(fromFolder);
        var folderDocs = fromFolder.ReadDocuments().ToList();
        Assert.Equal(docs.Select(d => (d.Info, d.RawText)).OrderBy(x => x.RawText), folderDocs.Select(d => (d.Info, d.RawText)).OrderBy(x => x.RawText));
        // Folder order: split by split, ids ascending.
        Assert.Equal([0, 0, 1, 1, 2, 3, 3, 4, 4], folderDocs.Select(d => d.Info.Split));
    }

    [Fact]
    public void ReadsATextFileWithBlankLinesBetweenDocuments()
    {
        using var dir = new TextTestSupport.TempDir();
        File.WriteAllText(dir["c.txt"], "Doc one line one.\r\nDoc one line two.\n\n\n  \nDoc two.\n");
        var reader = CorpusReader.Open(dir["c.txt"]);
        Assert.Equal(CorpusFormat.TextFile, reader.Format);
        var docs = reader.ReadDocuments().Select(d => d.CleanText()).ToList();
        Assert.Equal(["Doc one line one.\nDoc one line two.", "Doc two."], docs);
    }

    [Fact]
    public void ReadsAFolderOfTextFilesInPathOrder()
    {
        using var dir = new TextTestSupport.TempDir();
        Directory.CreateDirectory(dir["sub"]);
        File.WriteAllText(dir["b.txt"], "Second file,\nwrapped line.\n\nNew paragraph.");
        File.WriteAllText(dir["a.txt"], "First file.");
        File.WriteAllText(Path.Combine(dir["sub"], "c.txt"), "Third.");
        File.WriteAllText(dir["ignored.md"], "not text");
        var reader = CorpusReader.Open(dir.Path);
        Assert.Equal(CorpusFormat.TextFolder, reader.Format);
        Assert.Equal(["First file.", "Second file, wrapped line.\nNew paragraph.", "Third."],
            reader.ReadDocuments().Select(d => d.CleanText()));
    }

    [Fact]
    public void ReadsJsonLines()
    {
        using var dir = new TextTestSupport.TempDir();
        File.WriteAllText(dir["c.jsonl"], "{\"text\": \"Hello there.\\n\\nSecond paragraph.\", \"id\": 1}\n\n{\"text\": \"Two\"}\n{\"text\": \"  \"}\n");
        var reader = CorpusReader.Open(dir["c.jsonl"]);
        Assert.Equal(["Hello there.\nSecond paragraph.", "Two"], reader.ReadDocuments().Select(d => d.CleanText()));

        File.WriteAllText(dir["bad.jsonl"], "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
        var e = Assert.Throws<InvalidDataException>(() => CorpusReader.Open(dir["bad.jsonl"]).ReadDocuments().ToList());
        Assert.Contains("bad.jsonl:2", e.Message);
        File.WriteAllText(dir["bad2.jsonl"], "not json\n");
        Assert.Contains("bad2.jsonl:1: not valid JSON", Assert.Throws<InvalidDataException>(() => CorpusReader.Open(dir["bad2.jsonl"]).ReadDocuments().ToList()).Message);
    }

    [Fact]
    public void RejectsMissingPathsAndBinaryFiles()
    {
        using var dir = new TextTestSupport.TempDir();
        Assert.Contains("no such file or folder", Assert.Throws<FileNotFoundException>(() => CorpusReader.Open(dir["nope"])).Message);
        File.WriteAllBytes(dir["data.bin"], [0x7F, 0x45, 0x4C, 0x46, 0x00, 0x01, 0x02]);
        var e = Assert.Throws<InvalidDataException>(() => CorpusReader.Open(dir["data.bin"]).ReadDocuments().ToList());
        Assert.Contains("binary", e.Message);
        Assert.Contains("data.bin", e.Message);
        File.WriteAllText(dir["notimdb.tar.gz"], "plain text, not gzip");
        Assert.Throws<InvalidDataException>(() => CorpusReader.Open(dir["notimdb.tar.gz"]).ReadDocuments().ToList());
    }

    [Fact]
    public void ReplacesAndCountsInvalidUtf8()
    {
        using var dir = new TextTestSupport.TempDir();
        var bytes = new List<byte>();
        bytes.AddRange(Encoding.UTF8.GetBytes("good "));
        bytes.AddRange([0xC3, 0x28]);             // invalid 2-byte sequence
        bytes.AddRange(Encoding.UTF8.GetBytes(" text "));
        bytes.AddRange([0xFF]);                   // never valid in UTF-8
        bytes.AddRange(Encoding.UTF8.GetBytes(" é\n"));
        File.WriteAllBytes(dir["u.txt"], bytes.ToArray());
        var reader = CorpusReader.Open(dir["u.txt"]);
        var text = reader.ReadDocuments().Single().CleanText();
        Assert.Equal(2, reader.Stats.InvalidUtf8);
        Assert.Equal("good \uFFFD( text \uFFFD é", text);
        Assert.Equal(["good", "(", "text", "e"], new BasicTokenizer().Tokenize(text)); // U+FFFD is dropped
    }

    [Fact]
    public void ReadsAHugeSingleLineInBoundedPieces()
    {
        using var dir = new TextTestSupport.TempDir();
        // 3 MB on one line: read in pieces of at most MaxLineChars, with one warning.
        var sb = new StringBuilder();
        while (sb.Length < 3_000_000) sb.Append("word after word. ");
        File.WriteAllText(dir["long.txt"], sb.ToString());
        var reader = CorpusReader.Open(dir["long.txt"]);
        var docs = reader.ReadDocuments().ToList();
        // One warning for the line, one for the document it had to cut: not one per piece.
        Assert.Equal(2, reader.Stats.Warnings.Count);
        Assert.Contains("long.txt:1: line longer than", reader.Stats.Warnings[0]);
        Assert.Contains("long.txt:1: document longer than", reader.Stats.Warnings[1]);
        Assert.True(docs.Count >= 3);
        Assert.Equal(sb.ToString().Replace(" ", "").Length, string.Concat(docs.Select(d => d.RawText)).Replace(" ", "").Replace("\n", "").Length);
        Assert.All(docs, d => Assert.True(d.RawText.Length <= CorpusReader.MaxDocumentChars + CorpusReader.MaxLineChars));
    }
}
