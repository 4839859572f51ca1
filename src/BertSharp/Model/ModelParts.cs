using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The parts of a BERT model a step's time is reported by, and which part a device call works on, told from the
/// parameters among its operands: <see cref="Of"/> is the <see cref="DeviceProfile.PartOf"/> of a model profiled
/// through a <see cref="ProfilingDevice"/>, so the layers carry no profiling code. Parts are summed over the layers.
/// </summary>
public static class ModelParts
{
    /// <summary>The batch copied to the device and the attention mask made from it (host → device traffic).</summary>
    public const string Inputs = "inputs";
    /// <summary><c>bert.embeddings.*</c>: the three gathers, LayerNorm, dropout.</summary>
    public const string Embeddings = "embeddings";
    /// <summary><c>attention.self.*</c>: the fused QKV product, scores, softmax, dropout, context.</summary>
    public const string SelfAttention = "self-attention";
    /// <summary><c>attention.output.*</c>: dense, dropout, residual, LayerNorm.</summary>
    public const string AttentionOutput = "attention output";
    /// <summary><c>intermediate.*</c>: dense H→I, GELU.</summary>
    public const string Intermediate = "intermediate";
    /// <summary><c>output.*</c>: dense I→H, dropout, residual, LayerNorm.</summary>
    public const string Output = "output";
    /// <summary><c>bert.pooler.*</c>: the [CLS] rows' dense and tanh.</summary>
    public const string Pooler = "pooler";
    /// <summary><c>cls.predictions.*</c> and the tied decoder: gather, transform, the vocabulary-wide product, bias + cross-entropy.</summary>
    public const string MlmHead = "MLM head";
    /// <summary><c>cls.seq_relationship.*</c>: the NSP logits and cross-entropy.</summary>
    public const string NspHead = "NSP head";
    /// <summary><c>classifier.*</c>: the classification logits and cross-entropy.</summary>
    public const string Classifier = "classifier";
    /// <summary>A view over the tensors of several parts: the optimiser's runs, the gradient norm, zeroing the gradients,
    /// the bf16 copy of the weights.</summary>
    public const string AllParameters = "all parameters";

    /// <summary>The part of parameter <paramref name="name"/> (HF's name), or null for a name of no part.</summary>
    public static string? OfParameter(string name) => name switch
    {
        _ when name.StartsWith("bert.embeddings.", StringComparison.Ordinal) => Embeddings,
        _ when name.StartsWith("bert.encoder.layer.", StringComparison.Ordinal) => name.Contains(".attention.self.", StringComparison.Ordinal) ? SelfAttention
            : name.Contains(".attention.output.", StringComparison.Ordinal) ? AttentionOutput
            : name.Contains(".intermediate.", StringComparison.Ordinal) ? Intermediate
            : name.Contains(".output.", StringComparison.Ordinal) ? Output : null,
        _ when name.StartsWith("bert.pooler.", StringComparison.Ordinal) => Pooler,
        _ when name.StartsWith("cls.predictions.", StringComparison.Ordinal) => MlmHead,
        _ when name.StartsWith("cls.seq_relationship.", StringComparison.Ordinal) => NspHead,
        _ when name.StartsWith("classifier.", StringComparison.Ordinal) => Classifier,
        _ => null,
    };

    /// <summary>
    /// Names the part of <paramref name="parameters"/> an operand lies in: a view of the values, their product copy or
    /// the gradients inside one part's tensors gives that part, one spanning several parts <see cref="AllParameters"/>,
    /// any other tensor (activations, optimiser moments) null. A matrix product over the word embeddings is the MLM
    /// head's tied decoder (the embeddings layer gathers rows of that table, it never multiplies by it). A copy to the
    /// device of anything but parameters, and the attention mask, are <see cref="Inputs"/>: in a step, the batch.
    /// </summary>
    public static Func<string, TensorView, string?> Of(BertParameters parameters)
    {
        var layout = parameters.Layout;
        var entries = layout.Entries.OrderBy(e => e.Offset).ToArray();
        var starts = entries.Select(e => e.Offset).ToArray();
        var parts = entries.Select(e => OfParameter(e.Name)).ToArray();
        var word = layout["bert.embeddings.word_embeddings.weight"];
        return (kernel, view) =>
        {
            var t = view.Tensor;
            bool parameter = ReferenceEquals(t, parameters.Values) || ReferenceEquals(t, parameters.AllocatedGradients) || ReferenceEquals(t, parameters.ProductValues);
            if (!parameter) return kernel is nameof(Device.CopyToDevice) or nameof(Device.AttentionMask) ? Inputs : null;
            if (view.Offset == word.Offset && kernel.StartsWith("Sgemm", StringComparison.Ordinal)) return MlmHead;
            int i = Array.BinarySearch(starts, view.Offset);
            if (i < 0) i = Math.Max(0, ~i - 1); // the tensor the view starts in (or the gap after it)
            string? part = parts[i];
            for (int j = i + 1; j < entries.Length && entries[j].Offset < view.Offset + view.Length; j++)
                if (parts[j] != part) return AllParameters;
            return part;
        };
    }
}
