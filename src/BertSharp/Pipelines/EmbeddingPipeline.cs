using BertSharp.Data;
using BertSharp.IO;

namespace BertSharp.Pipelines;

/// <summary>
/// One vector per text ([CLS], mean-pooled or pooler), with any pretrained or fine-tuned model, in batches:
/// <code>var embed = new EmbeddingPipeline(PretrainedModel.Load("runs/sample"), Pooling.Mean);
/// float[] v = embed.Run("a quiet film.").Vector!;</code>
/// Long texts keep their head and tail. Not thread-safe: use one pipeline per thread.
/// </summary>
public sealed class EmbeddingPipeline
{
    private readonly SequenceBatches _batches;

    /// <param name="model">Any model; a classifier head, if present, is not read.</param>
    /// <param name="pooling">How the hidden states become one vector.</param>
    /// <param name="maxLength">Tokens per input including [CLS] and [SEP] (default: 512 or the model's position table).</param>
    /// <param name="batchSize">Texts per forward pass.</param>
    public EmbeddingPipeline(PretrainedModel model, Pooling pooling = Pooling.Cls, int? maxLength = null, int batchSize = 16)
    {
        Model = model;
        Pooling = pooling;
        _batches = new SequenceBatches(model, maxLength, null, batchSize);
    }

    /// <summary>The model the pipeline runs.</summary>
    public PretrainedModel Model { get; }
    /// <summary>How each vector is made.</summary>
    public Pooling Pooling { get; }
    /// <summary>Floats per vector (the model's hidden size).</summary>
    public int Dimensions => Model.Config.HiddenSize;

    /// <summary>The vector of one text.</summary>
    public EmbeddingResult Run(string text) => Run([text])[0];

    /// <summary>The vectors of <paramref name="texts"/>, one result per text in order.</summary>
    public IReadOnlyList<EmbeddingResult> Run(IReadOnlyList<string> texts, CancellationToken cancel = default)
    {
        var (kept, keptIndex, all) = _batches.EncodeAll(texts);
        var vectors = Vectors(kept, cancel);
        var results = new EmbeddingResult[texts.Count];
        for (int i = 0; i < texts.Count; i++)
            results[i] = new EmbeddingResult(keptIndex[i] < 0 ? null : vectors[keptIndex[i]], all[i].OriginalTokens, all[i].Tokens.Length);
        return results;
    }

    /// <summary>Runs the model and pools its outputs into one vector per example (the one place that reads them).</summary>
    private float[][] Vectors(IReadOnlyList<LabelledExample> examples, CancellationToken cancel)
    {
        var result = new float[examples.Count][];
        int h = Dimensions;
        var net = _batches.Net;
        _batches.Run(examples, (start, count, seq) =>
        {
            // One copy of the batch's outputs to the host.
            var outputs = net.Device.ToArray(Pooling == Pooling.Pooler ? net.PooledOutput : net.SequenceOutput);
            for (int i = 0; i < count; i++)
            {
                var vector = result[start + i] = new float[h];
                if (Pooling == Pooling.Pooler) outputs.AsSpan(i * h, h).CopyTo(vector);
                else if (Pooling == Pooling.Cls) outputs.AsSpan(i * seq * h, h).CopyTo(vector);
                else
                {
                    int real = examples[start + i].Tokens.Length + 2; // [CLS] text [SEP]
                    for (int t = 0; t < real; t++)
                    {
                        var row = outputs.AsSpan((i * seq + t) * h, h);
                        for (int k = 0; k < h; k++) vector[k] += row[k];
                    }
                    for (int k = 0; k < h; k++) vector[k] /= real;
                }
            }
        }, cancel);
        return result;
    }
}
