using System.Text.Json;
using BertSharp.IO;
using BertSharp.Pipelines;
using BertSharp.Tests.Cli;
using BertSharp.Tests.IO;

namespace BertSharp.Tests.Pipelines;

/// <summary>A tiny pretraining run and a classifier folder, made once for the pipeline and loader tests.</summary>
public sealed class PipelineFixture : IDisposable
{
    private readonly CliTestSupport.TempDir _dir = new();
    public string this[string name] => _dir[name];
    public string Run { get; }
    public string Classifier { get; }

    public PipelineFixture()
    {
        string corpus = CliTestSupport.WriteCorpus(this["corpus.txt"]), config = CliTestSupport.WriteTinyConfig(this["tiny.json"]);
        Run = this["run"];
        var r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, Run));
        if (r.Code != 0) throw new InvalidOperationException(r.Err);
        Classifier = this["classifier"];
        HfTestModel.Build(withClassifier: true).Save(Classifier);
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>The library's loader and pipelines give what the commands print (the commands only render them).</summary>
public class PipelineTests(PipelineFixture f) : IClassFixture<PipelineFixture>
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    [Fact]
    public void The_loader_reads_run_checkpoint_and_HuggingFace_folders()
    {
        var run = PretrainedModel.Load(f.Run);
        string checkpoint = Path.Combine(f.Run, "checkpoints", "checkpoint-6");
        Assert.Equal(Path.GetFullPath(checkpoint), run.Folder);
        Assert.Equal(Path.GetFullPath(f.Run), run.RunFolder);
        Assert.NotNull(run.Run);
        Assert.Equal(32, run.MaxSeqLength); // the run's --seq-length, not the 64 positions
        Assert.Equal(6, run.State!.Step);
        Assert.True(run.LowerCase);
        Assert.Null(run.Labels);
        Assert.Equal(run.Config.VocabSize, run.Parameters.Config.VocabSize);

        var ck = PretrainedModel.Load(checkpoint); // a checkpoint inside a run finds its run
        Assert.Equal(run.RunFolder, ck.RunFolder);
        Assert.Equal(run.Parameters.Values.ToArray(), ck.Parameters.Values.ToArray());

        var hf = PretrainedModel.Load(f.Classifier);
        Assert.Null(hf.RunFolder);
        Assert.Null(hf.Run);
        Assert.Null(hf.State);
        Assert.Equal(["neg", "pos", "mixed"], hf.Labels!);
        Assert.Equal(40, hf.Vocabulary.Count);
        Assert.Equal(32, hf.MaxSeqLength); // tokenizer_config.json's model_max_length
        Assert.Empty(hf.Notes);
    }

    [Fact]
    public void The_loader_says_what_a_folder_is_not()
    {
        string empty = f["empty-" + Guid.NewGuid().ToString("N")];
        Directory.CreateDirectory(empty);
        var e = Assert.Throws<BertSharpException>(() => PretrainedModel.Load(empty));
        Assert.Equal(ErrorKind.BadCheckpoint, e.Kind);
        Assert.Contains("not a checkpoint, run or model folder", e.Message);
        Assert.Contains(empty, e.Message);

        e = Assert.Throws<BertSharpException>(() => PretrainedModel.Load(f["missing"]));
        Assert.Equal(ErrorKind.BadInput, e.Kind);

        // A HF folder with PyTorch weights only: the model folder reader says what to do.
        string torch = f["torch-" + Guid.NewGuid().ToString("N")];
        Directory.CreateDirectory(torch);
        File.Copy(Path.Combine(f.Classifier, "config.json"), Path.Combine(torch, "config.json"));
        File.WriteAllText(Path.Combine(torch, "pytorch_model.bin"), "");
        e = Assert.Throws<BertSharpException>(() => PretrainedModel.Load(torch));
        Assert.Equal(ErrorKind.BadCheckpoint, e.Kind);
        Assert.Contains("pytorch_model.bin", e.Message);

        // A truncated weights file.
        string cut = f["cut-" + Guid.NewGuid().ToString("N")];
        Directory.CreateDirectory(cut);
        foreach (var file in Directory.GetFiles(f.Classifier)) File.Copy(file, Path.Combine(cut, Path.GetFileName(file)));
        var bytes = File.ReadAllBytes(Path.Combine(cut, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(cut, "model.safetensors"), bytes[..(bytes.Length / 2)]);
        e = Assert.Throws<BertSharpException>(() => PretrainedModel.Load(cut));
        Assert.Equal(ErrorKind.BadCheckpoint, e.Kind);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void Fill_mask_gives_what_the_command_prints()
    {
        var fill = new FillMaskPipeline(PretrainedModel.Load(f.Run));
        var r = fill.Run("the story is set in a [MASK] town [MASK] .", topK: 4);
        Assert.Equal(2, r.Masks.Count);
        Assert.Equal(7, r.Masks[0].Position);
        foreach (var m in r.Masks)
        {
            Assert.Equal(4, m.Predictions.Count);
            for (int i = 1; i < 4; i++) Assert.True(m.Predictions[i - 1].Probability >= m.Predictions[i].Probability);
            Assert.All(m.Predictions, p => Assert.Equal(fill.Model.Vocabulary[p.Id], p.Token));
        }
        var cli = CliTestSupport.Run(["fill-mask", f.Run, r.Text, "--top-k", "4", "--json"]);
        Assert.True(cli.Code == 0, cli.Err);
        var masks = Json(cli.Out)[0].GetProperty("masks");
        for (int m = 0; m < 2; m++)
            for (int i = 0; i < 4; i++)
            {
                var p = masks[m].GetProperty("predictions")[i];
                Assert.Equal(r.Masks[m].Predictions[i].Id, p.GetProperty("id").GetInt32());
                Assert.Equal(Math.Round(r.Masks[m].Predictions[i].Probability, 6), p.GetProperty("probability").GetDouble());
            }
        var e = Assert.Throws<BertSharpException>(() => fill.Run("no mask here ."));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
    }

    [Fact]
    public void Next_sentence_gives_what_the_command_prints()
    {
        var nsp = new NextSentencePipeline(PretrainedModel.Load(f.Run));
        var r = nsp.Run("it was superb.", "nine out of ten.");
        Assert.InRange(r.IsNextProbability, 0, 1);
        Assert.False(r.Truncated);
        var cli = CliTestSupport.Run(["nsp", f.Run, r.A, r.B, "--json"]);
        Assert.True(cli.Code == 0, cli.Err);
        Assert.Equal(Math.Round(r.IsNextProbability, 6), Json(cli.Out)[0].GetProperty("is_next_probability").GetDouble());
        Assert.True(nsp.Run(string.Join(' ', Enumerable.Repeat("music", 100)), "loud").Truncated);
    }

    [Fact]
    public void Classification_gives_what_the_command_prints()
    {
        var model = PretrainedModel.Load(f.Classifier);
        var classify = new ClassificationPipeline(model, batchSize: 2);
        string[] texts = ["w5 w7 w9", "", "w11 w12", string.Join(' ', Enumerable.Repeat("w20", 50))];
        var results = classify.Run(texts);
        Assert.Equal(4, results.Count);
        Assert.Null(results[1].Label); // no tokens: not run
        Assert.True(results[3].Truncated);
        Assert.Equal(50, results[3].Tokens);
        var cli = CliTestSupport.Run(["classify", "--model", f.Classifier, "--json", .. texts]);
        Assert.True(cli.Code == 0, cli.Err);
        var lines = cli.Out.Trim().Split('\n').Select(Json).ToArray();
        Assert.Equal(3, lines.Length);
        foreach (var (line, r) in lines.Zip(results.Where(x => x.Label is not null)))
        {
            Assert.Equal(r.Label, line.GetProperty("label").GetString());
            Assert.Equal(Math.Round(r.Probability, 6), line.GetProperty("probability").GetDouble());
            Assert.Equal(1.0, Math.Round(r.Probabilities.Sum(), 6));
        }
        // Batching does not change the answer.
        var one = new ClassificationPipeline(model, batchSize: 1).Run(texts[0]);
        Assert.Equal(results[0].Probabilities, one.Probabilities);

        var e = Assert.Throws<BertSharpException>(() => new ClassificationPipeline(PretrainedModel.Load(f.Run)));
        Assert.Equal(ErrorKind.BadCheckpoint, e.Kind);
    }

    [Theory]
    [InlineData(Pooling.Cls, "cls")]
    [InlineData(Pooling.Mean, "mean")]
    [InlineData(Pooling.Pooler, "pooler")]
    public void Embedding_gives_what_the_command_prints(Pooling pooling, string name)
    {
        var embed = new EmbeddingPipeline(PretrainedModel.Load(f.Run), pooling);
        var results = embed.Run(["the acting is superb", "i want my time back ."]);
        Assert.All(results, r => Assert.Equal(embed.Dimensions, r.Vector!.Length));
        var cli = CliTestSupport.Run(["embed", "--model", f.Run, "--pooling", name, "the acting is superb", "i want my time back ."]);
        Assert.True(cli.Code == 0, cli.Err);
        var lines = cli.Out.Trim().Split('\n').Select(Json).ToArray();
        for (int i = 0; i < 2; i++)
            Assert.Equal(results[i].Vector!, lines[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray());
    }

    [Fact]
    public void Evaluation_gives_what_the_command_prints()
    {
        var metrics = new PretrainingEvaluator(PretrainedModel.Load(f.Run)).EvaluateValidation(batchSize: 8);
        Assert.True(metrics.Sequences > 0 && metrics.MaskedTokens > 0);
        Assert.InRange(metrics.MlmAccuracy, 0, 1);
        var cli = CliTestSupport.Run(["evaluate", f.Run, "--batch-size", "8", "--json"]);
        Assert.True(cli.Code == 0, cli.Err);
        var j = Json(cli.Out);
        Assert.Equal(metrics.MlmLoss, j.GetProperty("mlm_loss").GetDouble());
        Assert.Equal(metrics.NspAccuracy, j.GetProperty("nsp_accuracy").GetDouble());
        Assert.Equal(metrics.Sequences, j.GetProperty("sequences").GetInt64());
    }
}
