using BertSharp.Text;
using static BertSharp.Tests.Text.TextTestSupport;

namespace BertSharp.Tests.Text;

/// <summary>What the CLI's text commands and the pretraining stages share, used from a program: the corpus-format names,
/// the IMDB split counts and the vocabulary-training flow.</summary>
public class CorpusLibraryTests
{
    [Fact]
    public void CorpusFormatNamesMapBothWays()
    {
        Assert.Equal(["auto", "imdb", "text-folder", "text-file", "jsonl"], CorpusFormats.Names);
        CorpusFormat[] formats = [CorpusFormat.Auto, CorpusFormat.Imdb, CorpusFormat.TextFolder, CorpusFormat.TextFile, CorpusFormat.JsonLines];
        for (int i = 0; i < formats.Length; i++)
        {
            Assert.True(CorpusFormats.TryParse(CorpusFormats.Names[i], out var f));
            Assert.Equal(formats[i], f);
        }
        Assert.False(CorpusFormats.TryParse("JSONL", out _));
        var e = Assert.Throws<BertSharpException>(() => CorpusFormats.Parse("csv", "--format"));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Equal("--format: unknown format 'csv' (auto, imdb, text-folder, text-file, jsonl)", e.Message);
    }

    [Fact]
    public void CountsImdbReviewsPerSplit()
    {
        using var dir = new TempDir();
        foreach (var (name, text) in TinyImdb())
        {
            string path = dir[name];
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        var counts = ImdbDataset.CountReviews(dir["aclImdb"]);
        Assert.Equal(ImdbCorpusReader.Splits, counts.Keys);
        Assert.Equal([2, 2, 1, 2, 2], counts.Values);
        Assert.All(ImdbDataset.CountReviews(dir["nothing"]).Values, n => Assert.Equal(0, n));
    }

    [Fact]
    public void TrainsAVocabularyFromACorpusInTwoSteps()
    {
        using var dir = new TempDir();
        var lines = Enumerable.Range(0, 1500).Select(i => $"the film number {i % 37} was {(i % 3 == 0 ? "great" : "dull")} .\n");
        File.WriteAllText(dir["corpus.txt"], string.Join("\n", lines));
        // One byte that is not UTF-8, in the last document: reading replaces it and says so.
        using (var f = File.Open(dir["corpus.txt"], FileMode.Append)) f.Write([0xFF, (byte)'\n']);
        var options = new VocabularyTrainingOptions { VocabSize = 80, MinFrequency = 1, Threads = 2 };
        var reports = new List<CountingProgress>();

        var counted = VocabularyTraining.Count(CorpusReader.Open(dir["corpus.txt"]), options, new Sync<CountingProgress>(reports.Add));
        Assert.Equal(Path.GetFullPath(dir["corpus.txt"]), counted.CorpusPath);
        Assert.Equal(1500, counted.Stats.Documents);
        Assert.Equal([1024L], reports.Select(r => r.Documents));
        Assert.Contains(counted.Stats.WarningLines(), l => l.StartsWith("warning: 1 invalid UTF-8 sequence(s)"));
        var vocab = VocabularyTraining.Train(counted, options);
        // The same vocabulary as the trainer's own one-call convenience.
        var direct = WordPieceTrainer.Train(CorpusReader.Open(dir["corpus.txt"]).ReadDocuments(), options);
        Assert.Equal(direct.Sha256, vocab.Sha256);

        File.WriteAllText(dir["empty.txt"], "\n\n");
        var empty = VocabularyTraining.Count(CorpusReader.Open(dir["empty.txt"]), options);
        var e = Assert.Throws<BertSharpException>(() => VocabularyTraining.Train(empty, options));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.Equal($"{Path.GetFullPath(dir["empty.txt"])}: the corpus has no text", e.Message);
        // Unusable options: a usage error naming the property (a program never passed a flag).
        var small = Assert.Throws<BertSharpException>(() => (options with { VocabSize = 5 }).Validate());
        Assert.Equal(ErrorKind.Usage, small.Kind);
        Assert.Equal("VocabSize: 5 leaves no room after the 5 special tokens", small.Message);
        Assert.Equal(["MinFrequency", "LimitAlphabet"], new VocabularyTrainingOptions { MinFrequency = 0, LimitAlphabet = 0 }.Problems().Select(p => p.Property));
        // What the trainer refuses (an alphabet larger than the vocabulary, or no room at all) is bad input, not a crash.
        Assert.Equal(ErrorKind.BadInput, Assert.Throws<BertSharpException>(() => VocabularyTraining.Train(counted, options with { VocabSize = 8 })).Kind);
        Assert.Equal(ErrorKind.BadInput, Assert.Throws<BertSharpException>(() => VocabularyTraining.Train(counted, options with { VocabSize = 5 })).Kind);
    }

    private sealed class Sync<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
