using System.Text.Json;
using BertSharp.Cli;
using BertSharp.Tests.Model;

namespace BertSharp.Tests.Cli;

/// <summary>The finetune → classify / embed → export → import path through the real command line (in process).</summary>
public class UseCommandTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Rc, string Out, string Err) Run(params string[] args)
    {
        var r = CliTestSupport.Run(args);
        return (r.Code, r.Out, r.Err);
    }

    [Fact]
    public void A_pretraining_run_folder_fine_tunes_embeds_and_exports()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run");
        var r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, run));
        Assert.True(r.Code == 0, r.Err);

        string data = Path.Combine(_dir, "d.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 40).Select(i => JsonSerializer.Serialize(new
        {
            text = i % 2 == 0 ? "it was wonderful, i loved every minute of it." : "it was boring, i want my time back.", label = i % 2,
        })));
        string ft = Path.Combine(_dir, "ft");
        var f = Run("finetune", "--model", run, "--data", data, "--out", ft, "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--log-every", "0",
            "--dropout", "0.2");
        Assert.True(f.Rc == 0, f.Err);
        Assert.Contains("fine-tuning from " + run, f.Err);
        Assert.Contains("\"hidden_dropout_prob\": 0.2", File.ReadAllText(Path.Combine(ft, "config.json")));
        // The fine-tuned folder still carries the MLM head: the pretraining commands read it and skip the classifier.
        var m = Run("fill-mask", ft, "it was [MASK].", "--json");
        Assert.True(m.Rc == 0, m.Err);
        Assert.Contains("\"probability\"", m.Out);
        Assert.True(Run("finetune", "--model", run, "--data", data, "--out", Path.Combine(_dir, "ft2"), "--dropout", "1").Rc == CliRunner.ExitUsage);
        var e = Run("embed", "--model", run, "--pooling", "cls", "it was wonderful");
        Assert.True(e.Rc == 0, e.Err);
        Assert.Equal(32, JsonDocument.Parse(e.Out).RootElement.GetProperty("embedding").GetArrayLength());
        string hf = Path.Combine(_dir, "hf");
        var x = Run("export", "--checkpoint", run, "--out", hf);
        Assert.True(x.Rc == 0, x.Err);
        Assert.True(File.Exists(Path.Combine(hf, "vocab.txt"))); // taken from the run folder
        Assert.Contains("BertForPreTraining", File.ReadAllText(Path.Combine(hf, "config.json")));
    }

    [Fact]
    public void Finetune_classify_embed_export_and_import_work_end_to_end()
    {
        string data = Path.Combine(_dir, "d.jsonl"), vocab = Path.Combine(_dir, "vocab.txt");
        File.WriteAllLines(data, ClassifierTests.SentimentTexts(64, 9).Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        File.WriteAllLines(vocab, new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "great", "fine", "bad", "awful", "poor",
            "the", "movie", "was", "plot", "acting", "and", "a", "i", "it" });
        string ft = Path.Combine(_dir, "ft");
        var r = Run("finetune", "--data", data, "--vocab", vocab, "--preset", "tiny", "--out", ft, "--epochs", "1", "--batch-size", "16",
            "--lr", "1e-3", "--max-length", "16", "--log-every", "0");
        Assert.True(r.Rc == 0, r.Err);
        Assert.Contains("eval accuracy", r.Out);
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(ft, "finetune_results.json"))).RootElement;
        Assert.Equal(58, results.GetProperty("train_examples").GetInt32()); // 64 minus the 10% held out
        Assert.Equal("BertForSequenceClassification", JsonDocument.Parse(File.ReadAllText(Path.Combine(ft, "config.json"))).RootElement.GetProperty("architectures")[0].GetString());

        // Fine-tuning again from that model, with length-grouped batches and copied positions (16 on take 0-15).
        string ft2 = Path.Combine(_dir, "ft2");
        r = Run("finetune", "--model", ft, "--data", data, "--out", ft2, "--epochs", "1", "--batch-size", "16", "--lr", "1e-3",
            "--max-length", "16", "--log-every", "0", "--group-by-length", "--copy-positions", "16");
        Assert.True(r.Rc == 0, r.Err);
        Assert.Contains("copied from positions 0-15", r.Err);
        var results2 = JsonDocument.Parse(File.ReadAllText(Path.Combine(ft2, "finetune_results.json"))).RootElement;
        Assert.True(results2.GetProperty("group_by_length").GetBoolean());
        Assert.Equal(16, results2.GetProperty("copy_positions").GetInt32());
        r = Run("finetune", "--model", ft, "--random-init", "--copy-positions", "16", "--data", data, "--out", Path.Combine(_dir, "ft3"));
        Assert.Equal(CliRunner.ExitUsage, r.Rc);
        Assert.Contains("--copy-positions: not with --random-init", r.Err);
        r = Run("finetune", "--model", ft, "--copy-positions", "100000", "--data", data, "--out", Path.Combine(_dir, "ft4"));
        Assert.Equal(CliRunner.ExitUsage, r.Rc);
        Assert.Contains("--copy-positions", r.Err);

        r = Run("classify", "--model", ft, "--max-length", "16", "--json", "a good movie", "", string.Join(' ', Enumerable.Repeat("bad", 500)));
        Assert.Equal(0, r.Rc);
        var lines = r.Out.Trim().Split('\n');
        Assert.Equal(2, lines.Length); // the empty text is skipped with a warning
        Assert.Contains("argument 2: empty text", r.Err);
        var longOne = JsonDocument.Parse(lines[1]).RootElement;
        Assert.True(longOne.GetProperty("truncated").GetBoolean());
        Assert.Equal(500, longOne.GetProperty("tokens").GetInt32());
        double p = longOne.GetProperty("probability").GetDouble();
        Assert.InRange(p, 0.5, 1.0);

        r = Run("classify", "--model", ft, "   ");
        Assert.Equal(CliRunner.ExitBadInput, r.Rc);
        Assert.Contains("every input was empty", r.Err);
        r = Run("classify", "--model", Path.Combine(_dir, "missing"), "x");
        Assert.Equal(CliRunner.ExitBadInput, r.Rc);
        r = Run("classify", "--model", Path.Combine(_dir, "hf-not-yet"), "--file", data + ".none");
        Assert.Equal(CliRunner.ExitBadInput, r.Rc);
        r = Run("classify", "--model", ft, "--threads", "2", "a good movie"); // not an option of classify: refused, not classified
        Assert.Equal(CliRunner.ExitUsage, r.Rc);
        Assert.Contains("--threads: not an option of classify", r.Err);
        r = Run("classify", "--model", ft); // no text and an empty stdin
        Assert.Contains("no text", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));

        string emb = Path.Combine(_dir, "e.jsonl");
        r = Run("embed", "--model", ft, "--pooling", "mean", "--out", emb, "good", "bad plot");
        Assert.True(r.Rc == 0, r.Err);
        var vectors = File.ReadAllLines(emb).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, vectors.Count);
        Assert.Equal(128, vectors[0].GetProperty("embedding").GetArrayLength());

        string hf = Path.Combine(_dir, "hf"), back = Path.Combine(_dir, "back");
        Assert.Equal(0, Run("export", "--checkpoint", ft, "--out", hf).Rc);
        Assert.Equal(0, Run("import", "--from", hf, "--out", back).Rc);
        Assert.Equal(File.ReadAllBytes(Path.Combine(hf, "model.safetensors")), File.ReadAllBytes(Path.Combine(back, "model.safetensors")));
        r = Run("export", "--checkpoint", ft, "--out", hf);
        Assert.Equal(CliRunner.ExitBadInput, r.Rc);
        Assert.Contains("--force", r.Err);
    }
}
