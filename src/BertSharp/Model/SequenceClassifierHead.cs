using BertSharp.Tensors;
namespace BertSharp.Model;

/// <summary>
/// The parameters of a sequence-classification head, HF's <c>classifier.weight</c> [labels, H] and
/// <c>classifier.bias</c> [labels], with their gradients and the label names (<c>id2label</c>). Kept apart
/// from <see cref="BertParameters"/> because the pretraining layout is fixed and the head is task-specific.
/// </summary>
public sealed class SequenceClassifierHead
{
    public const string WeightName = "classifier.weight", BiasName = "classifier.bias";

    public IReadOnlyList<string> Labels { get; }
    public int NumLabels => Labels.Count;
    public int HiddenSize { get; }
    public float[] Weight { get; }
    public float[] Bias { get; }
    public float[] WeightGradient { get; }
    public float[] BiasGradient { get; }

    public SequenceClassifierHead(IReadOnlyList<string> labels, int hiddenSize)
    {
        if (labels.Count < 2) throw new ArgumentException($"classifier: needs at least 2 labels, got {labels.Count}");
        if (labels.Distinct(StringComparer.Ordinal).Count() != labels.Count)
            throw new ArgumentException($"classifier: duplicate label names ({string.Join(", ", labels)})");
        if (hiddenSize <= 0) throw new ArgumentException($"classifier: hidden size must be positive, got {hiddenSize}");
        Labels = labels.ToArray();
        HiddenSize = hiddenSize;
        Weight = new float[labels.Count * hiddenSize];
        Bias = new float[labels.Count];
        WeightGradient = new float[Weight.Length];
        BiasGradient = new float[Bias.Length];
    }

    /// <summary>BERT's initialisation (truncated normal, std <paramref name="std"/>; bias 0), deterministic for a seed.</summary>
    public void Initialize(ulong seed, float std)
    {
        var rng = new SplitMix64(seed);
        for (int i = 0; i < Weight.Length; i++) Weight[i] = (float)(std * rng.NextTruncatedNormal(2.0));
        Array.Clear(Bias);
    }

    public void ZeroGradients()
    {
        Array.Clear(WeightGradient);
        Array.Clear(BiasGradient);
    }

    public int LabelId(string label)
    {
        for (int i = 0; i < Labels.Count; i++)
            if (Labels[i] == label) return i;
        throw new ArgumentException($"classifier: unknown label '{label}' (labels: {string.Join(", ", Labels)})");
    }
}
