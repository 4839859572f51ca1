namespace BertSharp.Pipelines;

/// <summary>How <see cref="BertEmbeddingGenerator"/> makes its vectors.</summary>
public sealed record EmbeddingGeneratorOptions
{
    /// <summary>How the hidden states become one vector (default: the mean over the real tokens, as sentence-transformers).</summary>
    public Pooling Pooling { get; init; } = Pooling.Mean;
    /// <summary>Scale each vector to unit length, so cosine similarity is a dot product (default true).</summary>
    public bool Normalize { get; init; } = true;
    /// <summary>Texts per forward pass; cancellation is checked between batches.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Tokens per input including [CLS] and [SEP] (default: 512 or the model's position table); longer texts keep head and tail.</summary>
    public int? MaxLength { get; init; }
    /// <summary>The model id the metadata and each embedding report (default: the model folder's name).</summary>
    public string? ModelId { get; init; }
}
