using BertSharp.IO;
using BertSharp.Onnx;
using BertSharp.Tests.Cli;
using BertSharp.Tests.Model;
using Xunit.Abstractions;

namespace BertSharp.Tests.Onnx;

/// <summary>Issue 23, item 1 through the command line: <c>bertsharp export MODEL --format onnx</c> on a trained run,
/// checked by ONNX Runtime on real sentences (tokenized by the model's own tokenizer, padded into one batch).</summary>
public class OnnxExportCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Sentences =
    [
        "i watched the red river and it was wonderful.",
        "the story is set in a small town.",
        "two out of ten.",
        "the acting is boring and the music is loud, i want my time back!",
    ];

    /// <summary>[CLS] sentence [SEP] per row, padded with [PAD] (mask 0) to the longest.</summary>
    private static (int Seq, int[] Ids, int[] Types, int[] Mask) RealBatch(PretrainedModel model)
    {
        var tok = model.CreateTokenizer();
        var rows = Sentences.Select(s => new[] { model.Vocabulary.SpecialIds.Cls }.Concat(tok.Encode(s)).Append(model.Vocabulary.SpecialIds.Sep).ToArray()).ToArray();
        int seq = rows.Max(r => r.Length);
        int[] ids = new int[rows.Length * seq], types = new int[ids.Length], mask = new int[ids.Length];
        for (int b = 0; b < rows.Length; b++)
            for (int t = 0; t < rows[b].Length; t++) { ids[b * seq + t] = rows[b][t]; mask[b * seq + t] = 1; }
        Assert.Contains(0, mask); // padded
        return (seq, ids, types, mask);
    }

    private string TrainedRun()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run");
        var r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, run));
        Assert.True(r.Code == 0, r.Err);
        return run;
    }

    [Fact]
    public void Export_format_onnx_writes_the_hf_folder_with_onnx_model_that_ort_runs_like_bertsharp_on_real_text()
    {
        string run = TrainedRun();
        var model = PretrainedModel.Load(run);
        var (seq, ids, types, mask) = RealBatch(model);
        // Every checkpoint carries tokenizer.json beside vocab.txt, with the run's casing and sequence length.
        var checkpoints = Directory.GetDirectories(Path.Combine(run, "checkpoints"), "checkpoint-*");
        Assert.NotEmpty(checkpoints);
        foreach (var c in checkpoints)
        {
            var (vocab, lower, max) = TokenizerJson.Read(Path.Combine(c, TokenizerJson.FileName));
            Assert.Equal(model.Vocabulary.Tokens, vocab.Tokens);
            Assert.Equal(model.LowerCase, lower);
            Assert.Equal(32, max);
        }
        int batch = Sentences.Length;

        // Pretraining (the default for a model without a classifier) and feature extraction.
        string outDir = Path.Combine(_dir, "export");
        var r = CliTestSupport.Run(["export", run, "--format", "onnx", "--out", outDir]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("onnx/model.onnx", r.Out);
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "onnx/model.onnx" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        OnnxExportTests.AssertAgrees(log, Path.Combine(outDir, "onnx", "model.onnx"), model.Parameters,
            ["prediction_logits", "seq_relationship_logits", "last_hidden_state"], seq, new int[batch], 0, ids, types, mask);

        string features = Path.Combine(_dir, "features");
        r = CliTestSupport.Run(["export", run, "--format", "onnx", "--task", "feature-extraction", "--out", features, "--json"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("\"task\": \"feature-extraction\"", r.Out);
        OnnxExportTests.AssertAgrees(log, Path.Combine(features, "onnx", "model.onnx"), model.Parameters, ["last_hidden_state"], seq, new int[batch], 0, ids, types, mask);

        // A classifier on the trained trunk (what finetune saves), exported by the library call.
        var classifier = model.Parameters.WithClassifier(["neg", "pos"], 7, 0.5f);
        var folder = new ModelFolder { Parameters = classifier, Vocabulary = model.Vocabulary, LowerCase = model.LowerCase };
        var result = OnnxExporter.Export(folder, Path.Combine(_dir, "cls"));
        Assert.Equal(OnnxTask.TextClassification, result.Task);
        OnnxExportTests.AssertAgrees(log, result.Path, classifier, ["logits"], seq, new int[batch], 0, ids, types, mask);
        // The folder reloads as the classifier it is.
        Assert.Equal(["neg", "pos"], PretrainedModel.Load(Path.Combine(_dir, "cls")).Labels);
    }

    [Fact]
    public void Export_refuses_what_onnx_cannot_hold_with_one_line_and_exit_2()
    {
        string run = TrainedRun();
        string outDir = Path.Combine(_dir, "x");
        (string[] Args, string Says)[] cases =
        [
            (["export", run, "--format", "onnx", "--task", "text-classification", "--out", outDir], "no classifier head"),
            (["export", run, "--format", "onnx", "--dtype", "bf16", "--out", outDir], "bf16"),
            (["export", run, "--format", "tflite", "--out", outDir], "--format"),
            (["export", run, "--format", "onnx", "--task", "summarization", "--out", outDir], "--task"),
            (["export", run, "--task", "feature-extraction", "--out", outDir], "only with --format onnx"),
        ];
        foreach (var (args, says) in cases)
        {
            var r = CliTestSupport.Run(args);
            Assert.Equal(2, r.Code);
            Assert.Contains(says, r.Err);
            Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
            Assert.False(Directory.Exists(outDir));
        }
        // An output inside the model: the export command's existing check, exit 2 with --format onnx too.
        var inside = CliTestSupport.Run(["export", run, "--format", "onnx", "--out", Path.Combine(run, "onnx-out")]);
        Assert.Equal(2, inside.Code);
        Assert.Contains("lies inside the input", inside.Err);
        Assert.Single(inside.Err.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(run, "onnx-out")));
    }
}
