using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>The text commands end to end, each in its own bertsharp process.</summary>
public class TextCliTests
{
    [Fact]
    public void TrainTokenizeAndEncodeOnAnImdbArchive()
    {
        using var dir = new TextTestSupport.TempDir();
        TextTestSupport.WriteTarGz(dir["imdb.tar.gz"], TextTestSupport.TinyImdb());

        var train = TextTestSupport.RunCli(null, "tokenizer", "train", "--corpus", dir["imdb.tar.gz"], "--out", dir["vocab.txt"],
            "--vocab-size", "150", "--min-frequency", "1");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("wrote", train.Out);
        var vocab = Vocabulary.Load(dir["vocab.txt"]);
        Assert.Equal(Vocabulary.DefaultSpecialTokens, vocab.Tokens.Take(5));

        var tokenize = TextTestSupport.RunCli(null, "tokenize", "--corpus", dir["imdb.tar.gz"], "--vocab", dir["vocab.txt"], "--out", dir["store"]);
        Assert.True(tokenize.Code == 0, tokenize.Err);
        Assert.Contains("9 documents", tokenize.Out);
        using (var store = TokenizedCorpusStore.Open(dir["store"])) Assert.Equal(9, store.DocumentCount);
        var again = TextTestSupport.RunCli(null, "tokenize", "--corpus", dir["imdb.tar.gz"], "--vocab", dir["vocab.txt"], "--out", dir["store"]);
        Assert.Equal(0, again.Code);
        Assert.Contains("kept", again.Err);

        var encode = TextTestSupport.RunCli("A great movie!\n\nMr. Smith [MASK]\n", "tokenizer", "encode", "--vocab", dir["vocab.txt"], "-");
        Assert.True(encode.Code == 0, encode.Err);
        var tok = new BertTokenizer(vocab);
        Assert.Equal(string.Join(" ", tok.Tokenize("A great movie!")) + "\n\n" + string.Join(" ", tok.Tokenize("Mr. Smith [MASK]")) + "\n", encode.Out);
        Assert.EndsWith("[MASK]\n", encode.Out);
        File.WriteAllText(dir["in.txt"], "great movie");
        var ids = TextTestSupport.RunCli(null, "tokenizer", "encode", "--vocab", dir["vocab.txt"], "--ids", dir["in.txt"]);
        Assert.Equal(string.Join(" ", tok.Encode("great movie")) + "\n", ids.Out);

        var data = TextTestSupport.RunCli(null, "data", "imdb", "--archive", dir["imdb.tar.gz"], "--sha256", "none", "--out", dir["data"]);
        Assert.True(data.Code == 0, data.Err);
        Assert.Contains("IMDB ready", data.Out);
        Assert.True(File.Exists(Path.Combine(dir["data"], "aclImdb", "train", "pos", "0_9.txt")));
    }

    [Fact]
    public void BadInputGivesOneLineAndANonZeroExit()
    {
        using var dir = new TextTestSupport.TempDir();
        File.WriteAllText(dir["vocab.txt"], "[PAD]\n[UNK]\nthe\n");
        File.WriteAllText(dir["empty.txt"], "\n\n");
        File.WriteAllBytes(dir["bin.txt"], [1, 2, 0, 3]);
        File.WriteAllText(dir["ok.txt"], "some words here.\n");
        (string[] Args, string Message)[] cases =
        [
            (["tokenizer", "train", "--corpus", dir["missing"], "--out", dir["v.txt"]], "no such file or folder"),
            (["tokenizer", "train", "--corpus", dir["empty.txt"], "--out", dir["v.txt"]], "no text"),
            (["tokenizer", "train", "--corpus", dir["bin.txt"], "--out", dir["v.txt"]], "binary"),
            (["tokenizer", "train", "--corpus", dir["ok.txt"], "--out", dir["v.txt"], "--vocab-size", "12"], "smaller than the 5 special tokens"),
            (["tokenizer", "encode", "--vocab", dir["vocab.txt"], dir["ok.txt"]], "lacks the special tokens [CLS] [SEP] [MASK]"),
            (["tokenize", "--corpus", dir["ok.txt"], "--vocab", dir["missing.txt"], "--out", dir["s"]], "vocabulary file not found"),
            (["data", "imdb", "--archive", dir["ok.txt"], "--out", dir["d"]], "SHA-256 mismatch"),
        ];
        foreach (var (args, message) in cases)
        {
            var r = TextTestSupport.RunCli(null, args);
            Assert.True(r.Code != 0, $"{string.Join(' ', args)} exited 0");
            var lines = r.Err.Trim().Split('\n');
            // Progress notes may precede it; the error itself is one line, the last.
            Assert.True(lines.Count(l => l.StartsWith("error: ")) == 1 && lines[^1].StartsWith("error: ") && lines[^1].Contains(message),
                $"{string.Join(' ', args)}: {r.Err}");
        }
        Assert.False(File.Exists(dir["v.txt"]));
        Assert.False(Directory.Exists(dir["d"]) && Directory.EnumerateFileSystemEntries(dir["d"]).Any());
    }
}
