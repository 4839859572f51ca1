using BertSharp.IO;
using BertSharp.Onnx;
using BertSharp.Pipelines;
using BertSharp.Tests.IO;
using BertSharp.Tests.Model;
using BertSharp.Tests.Onnx;
using Microsoft.Extensions.AI;

namespace BertSharp.Tests.Pipelines;

/// <summary>Issue 23, item 3: <see cref="BertEmbeddingGenerator"/> as Microsoft.Extensions.AI's IEmbeddingGenerator —
/// pooling (checked against ONNX Runtime's hidden states), normalisation, batching, cancellation, metadata.</summary>
public class EmbeddingGeneratorTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    private readonly PretrainedModel _model;

    public EmbeddingGeneratorTests()
    {
        HfTestModel.Build().Save(Path.Combine(_dir, "tiny-bert"));
        _model = PretrainedModel.Load(Path.Combine(_dir, "tiny-bert"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Texts = ["w5 w6 w7", "w20 w21 w22 w23 w24 w25 w26", "w9", "w30 w31 w5 w6"];

    [Theory]
    [InlineData(Pooling.Mean)]
    [InlineData(Pooling.Cls)]
    public async Task Mean_and_cls_pooling_equal_the_pooled_hidden_states_onnx_runtime_computes(Pooling pooling)
    {
        using var g = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { Pooling = pooling, Normalize = false });
        var got = await g.GenerateAsync(Texts);
        // Independent: the feature-extraction export in ORT, one text at a time, pooled here.
        string onnx = Path.Combine(_dir, "fe.onnx");
        OnnxExporter.Write(_model.Parameters, onnx, new OnnxExportOptions { Task = OnnxTask.FeatureExtraction });
        using var ort = new OrtRunner(onnx);
        var tok = _model.CreateTokenizer();
        int h = _model.Config.HiddenSize;
        for (int i = 0; i < Texts.Length; i++)
        {
            int[] ids = [_model.Vocabulary.SpecialIds.Cls, .. tok.Encode(Texts[i]), _model.Vocabulary.SpecialIds.Sep];
            var hidden = ort.Run(1, ids.Length, ids, new int[ids.Length], Enumerable.Repeat(1, ids.Length).ToArray())["last_hidden_state"].Values;
            var want = new float[h];
            int rows = pooling == Pooling.Cls ? 1 : ids.Length;
            for (int t = 0; t < rows; t++)
                for (int k = 0; k < h; k++) want[k] += hidden[t * h + k] / rows;
            Assert.True(BertSharpReference.RelativeL2(got[i].Vector.Span, want) < 1e-5, $"text {i}");
        }
    }

    [Fact]
    public async Task The_three_poolings_differ_and_pooler_is_the_pipelines()
    {
        var vectors = new Dictionary<Pooling, float[]>();
        foreach (var p in new[] { Pooling.Mean, Pooling.Cls, Pooling.Pooler })
        {
            using var g = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { Pooling = p, Normalize = false });
            vectors[p] = (await g.GenerateAsync(Texts))[1].Vector.ToArray();
        }
        Assert.Equal(new EmbeddingPipeline(_model, Pooling.Pooler).Run(Texts[1]).Vector, vectors[Pooling.Pooler]);
        Assert.NotEqual(vectors[Pooling.Mean], vectors[Pooling.Cls]);
        Assert.NotEqual(vectors[Pooling.Cls], vectors[Pooling.Pooler]);
    }

    [Fact]
    public async Task Normalised_vectors_have_unit_length_and_the_raw_vectors_direction()
    {
        using var raw = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { Normalize = false });
        using var unit = new BertEmbeddingGenerator(_model);
        var r = await raw.GenerateAsync(Texts);
        var u = await unit.GenerateAsync(Texts);
        for (int i = 0; i < Texts.Length; i++)
        {
            var a = r[i].Vector.Span;
            Assert.NotEqual(1.0, Math.Sqrt(a.ToArray().Sum(x => (double)x * x)), 3);
            Assert.Equal(1.0, Math.Sqrt(u[i].Vector.ToArray().Sum(x => (double)x * x)), 5);
            double norm = Math.Sqrt(a.ToArray().Sum(x => (double)x * x));
            for (int k = 0; k < a.Length; k++) Assert.Equal(a[k] / norm, u[i].Vector.Span[k], 5);
        }
    }

    [Fact]
    public async Task Batches_give_the_same_vectors_as_one_text_at_a_time()
    {
        var texts = Enumerable.Range(0, 37).Select(i => $"w{5 + i % 30} w{6 + i % 25} w{7 + i % 20}" + (i % 3 == 0 ? " w9 w10 w11" : "")).ToList();
        using var g = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { BatchSize = 8 });
        int batches = 0;
        g.AfterBatch = n => batches = n;
        var all = await g.GenerateAsync(texts);
        Assert.Equal(5, batches);
        Assert.Equal(37, all.Count);
        using var one = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { BatchSize = 1 });
        foreach (int i in new[] { 0, 8, 20, 36 })
        {
            var alone = (await one.GenerateAsync([texts[i]]))[0].Vector;
            Assert.True(BertSharpReference.RelativeL2(all[i].Vector.Span, alone.Span) < 1e-6);
        }
    }

    [Fact]
    public async Task Cancellation_stops_between_batches()
    {
        var texts = Enumerable.Repeat("w5 w6 w7", 50).ToList();
        using var g = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { BatchSize = 10 });
        using var cts = new CancellationTokenSource();
        int batches = 0;
        g.AfterBatch = n => { batches = n; if (n == 2) cts.Cancel(); };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => g.GenerateAsync(texts, cancellationToken: cts.Token));
        Assert.Equal(2, batches); // not 5: the third batch never ran
        batches = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => g.GenerateAsync(texts, cancellationToken: cts.Token));
        Assert.Equal(0, batches);
        // The generator is usable again afterwards.
        Assert.Equal(50, (await g.GenerateAsync(texts)).Count);
    }

    [Fact]
    public async Task Metadata_usage_and_bad_requests()
    {
        using IEmbeddingGenerator<string, Embedding<float>> g = new BertEmbeddingGenerator(_model, new EmbeddingGeneratorOptions { MaxLength = 6 });
        var meta = g.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal("BertSharp", meta.ProviderName);
        Assert.Equal("tiny-bert", meta.DefaultModelId);
        Assert.Equal(16, meta.DefaultModelDimensions);
        Assert.Same(_model, g.GetService<PretrainedModel>());
        Assert.Null(g.GetService<EmbeddingGeneratorMetadata>("some key"));

        var result = await g.GenerateAsync(["w5 w6", "w5 w6 w7 w8 w9 w10 w11"]);
        Assert.All(result, e => Assert.Equal("tiny-bert", e.ModelId));
        Assert.All(result, e => Assert.Equal(16, e.Dimensions));
        Assert.Equal(4 + 6, result.Usage!.InputTokenCount); // [CLS] 2 [SEP] + the kept 4 of 7 with [CLS] and [SEP]
        Assert.Null(result[0].AdditionalProperties);
        Assert.Equal(true, result[1].AdditionalProperties!["truncated"]);
        Assert.Equal(16, (await g.GenerateVectorAsync("w5")).Length);

        Assert.Contains("values[1] has no tokens", (await Assert.ThrowsAsync<ArgumentException>(() => g.GenerateAsync(["w5", " \t"]))).Message);
        Assert.Contains("Dimensions 8", (await Assert.ThrowsAsync<ArgumentException>(() => g.GenerateAsync(["w5"], new EmbeddingGenerationOptions { Dimensions = 8 }))).Message);
        Assert.Contains("ModelId 'other'", (await Assert.ThrowsAsync<ArgumentException>(() => g.GenerateAsync(["w5"], new EmbeddingGenerationOptions { ModelId = "other" }))).Message);
    }
}
