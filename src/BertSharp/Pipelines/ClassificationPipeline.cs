using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Pipelines;

/// <summary>
/// Label and probabilities per text with a fine-tuned model (one with a classifier head), in batches:
/// <code>var classify = new ClassificationPipeline(PretrainedModel.Load("runs/imdb-cls"));
/// var r = classify.Run("A wonderful, moving film."); // r.Label, r.Probability</code>
/// Long texts keep their head and tail, as in fine-tuning. Not thread-safe: use one pipeline per thread.
/// </summary>
public sealed class ClassificationPipeline
{
    private readonly SequenceBatches _batches;
    private readonly IReadOnlyList<string> _labels;

    /// <param name="model">A model with a classifier (<see cref="PretrainedModel.Labels"/> not null).</param>
    /// <param name="maxLength">Tokens per input including [CLS] and [SEP] (default: 512 or the model's position table).</param>
    /// <param name="headTokens">Tokens kept from the start of a long text (default: 128/510 of the length, Sun et al. 2019).</param>
    /// <param name="batchSize">Texts per forward pass.</param>
    public ClassificationPipeline(PretrainedModel model, int? maxLength = null, int? headTokens = null, int batchSize = 16)
    {
        if (model.Labels is null)
            throw new BertSharpException($"{model.Folder}: has no classifier head (classifier.weight); fine-tune it first with `bertsharp finetune`",
                ErrorKind.BadCheckpoint);
        Model = model;
        _labels = model.Labels;
        _batches = new SequenceBatches(model, maxLength, headTokens, batchSize);
    }

    /// <summary>The model the pipeline runs.</summary>
    public PretrainedModel Model { get; }
    /// <summary>Tokens per input, [CLS] and [SEP] included.</summary>
    public int MaxLength => _batches.MaxLength;
    /// <summary>Tokens kept from the start of a text longer than <see cref="MaxLength"/> (the rest from its end).</summary>
    public int HeadTokens => _batches.HeadTokens;

    /// <summary>Classifies one text.</summary>
    public ClassificationResult Run(string text) => Run([text])[0];

    /// <summary>Classifies <paramref name="texts"/>, one result per text in order.</summary>
    public IReadOnlyList<ClassificationResult> Run(IReadOnlyList<string> texts, CancellationToken cancel = default)
    {
        var (kept, keptIndex, all) = _batches.EncodeAll(texts);
        var probabilities = LabelProbabilities(kept, cancel);
        var results = new ClassificationResult[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            var ex = all[i];
            if (keptIndex[i] < 0) { results[i] = new ClassificationResult(null, -1, 0, [], ex.OriginalTokens, 0); continue; }
            var p = probabilities[keptIndex[i]];
            int best = Array.IndexOf(p, p.Max());
            results[i] = new ClassificationResult(_labels[best], best, p[best], p, ex.OriginalTokens, ex.Tokens.Length);
        }
        return results;
    }

    /// <summary>Runs the model: softmax over the labels for each example (the one place that reads its outputs).</summary>
    private double[][] LabelProbabilities(IReadOnlyList<Data.LabelledExample> examples, CancellationToken cancel)
    {
        var result = new double[examples.Count][];
        int labels = _labels.Count;
        _batches.Run(examples, (start, count, _) =>
        {
            var logits = _batches.Net.Device.ToArray(_batches.Net.Logits);
            for (int i = 0; i < count; i++) result[start + i] = Probabilities.SoftmaxDouble(logits.AsSpan(i * labels, labels));
        }, cancel);
        return result;
    }
}
