using System.Numerics.Tensors;
using BertSharp.IO;
using Microsoft.Extensions.AI;

namespace BertSharp.Pipelines;

/// <summary>
/// <see cref="EmbeddingPipeline"/> as Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>, so
/// code written against the abstraction (Semantic Kernel, vector stores, your own) embeds with a BertSharp model:
/// <code>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt; g = new BertEmbeddingGenerator(PretrainedModel.Load("runs/sample"));
/// var vectors = await g.GenerateAsync(["a quiet film.", "a loud one."]);</code>
/// Texts run in batches of <see cref="EmbeddingGeneratorOptions.BatchSize"/> on a worker thread, one call at a time
/// (the model's buffers are shared); the cancellation token is honoured between batches. A text with no tokens (empty,
/// only whitespace or control characters) is an <see cref="ArgumentException"/>: it has nothing to embed.
/// </summary>
public sealed class BertEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly EmbeddingPipeline _pipeline;
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <param name="model">Any model; a classifier head, if present, is not read. The caller keeps ownership.</param>
    /// <param name="options">Pooling, normalisation, batching (defaults: mean pooling, unit vectors, 16 texts a batch).</param>
    public BertEmbeddingGenerator(PretrainedModel model, EmbeddingGeneratorOptions? options = null)
    {
        Options = options ?? new EmbeddingGeneratorOptions();
        _pipeline = new EmbeddingPipeline(model, Options.Pooling, Options.MaxLength, Options.BatchSize);
        ModelId = Options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(model.RunFolder ?? model.Folder)));
        Metadata = new EmbeddingGeneratorMetadata("BertSharp", new Uri(Path.GetFullPath(model.Folder)), ModelId, model.Config.HiddenSize);
    }

    /// <summary>The options the generator was made with.</summary>
    public EmbeddingGeneratorOptions Options { get; }
    /// <summary>The id reported in <see cref="Metadata"/> and on each embedding.</summary>
    public string ModelId { get; }
    /// <summary>Provider "BertSharp", the model folder as URI, <see cref="ModelId"/> and the vector length (hidden size).</summary>
    public EmbeddingGeneratorMetadata Metadata { get; }

    /// <summary>Called after each batch with the number of batches done (tests watch cancellation with it).</summary>
    internal Action<int>? AfterBatch { get; set; }

    /// <inheritdoc/>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values.ToList();
        for (int i = 0; i < texts.Count; i++)
            if (texts[i] is null) throw new ArgumentException($"values[{i}] is null", nameof(values));
        if (options?.Dimensions is { } d && d != Metadata.DefaultModelDimensions)
            throw new ArgumentException($"Dimensions {d}: this model's vectors have {Metadata.DefaultModelDimensions} (the hidden size); BertSharp does not truncate them", nameof(options));
        if (options?.ModelId is { } id && id != ModelId)
            throw new ArgumentException($"ModelId '{id}': this generator runs '{ModelId}'", nameof(options));

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try { return await Task.Run(() => Generate(texts, cancellationToken), cancellationToken).ConfigureAwait(false); }
        finally { _gate.Release(); }
    }

    private GeneratedEmbeddings<Embedding<float>> Generate(List<string> texts, CancellationToken cancel)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        long tokens = 0;
        int batches = 0;
        for (int start = 0; start < texts.Count; start += Options.BatchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var chunk = texts.GetRange(start, Math.Min(Options.BatchSize, texts.Count - start));
            var vectors = _pipeline.Run(chunk, cancel);
            for (int i = 0; i < vectors.Count; i++)
            {
                var r = vectors[i];
                var v = r.Vector ?? throw new ArgumentException($"values[{start + i}] has no tokens (empty, or only whitespace and control characters): nothing to embed", "values");
                if (Options.Normalize)
                {
                    float norm = TensorPrimitives.Norm(v);
                    if (norm > 0) TensorPrimitives.Divide(v, norm, v);
                }
                tokens += r.KeptTokens + 2; // with [CLS] and [SEP]
                var e = new Embedding<float>(v) { ModelId = ModelId, CreatedAt = DateTimeOffset.UtcNow };
                if (r.Truncated) (e.AdditionalProperties ??= [])["truncated"] = true;
                result.Add(e);
            }
            AfterBatch?.Invoke(++batches);
        }
        result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return result;
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return Metadata;
        if (serviceType == typeof(EmbeddingPipeline)) return _pipeline;
        if (serviceType == typeof(PretrainedModel)) return _pipeline.Model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Releases the call gate; the model belongs to the caller and is not disposed.</summary>
    public void Dispose() => _gate.Dispose();
}
