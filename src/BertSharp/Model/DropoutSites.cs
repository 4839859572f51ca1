namespace BertSharp.Model;

/// <summary>
/// The dropout sites: the part of the counter (seed, step, site, element) that tells apart the masks of different
/// places in the model, so that the backward pass redraws exactly the forward pass's mask. The values are fixed:
/// changing one changes every mask drawn there, and so the training run.
/// </summary>
public static class DropoutSites
{
    /// <summary>The embeddings' output.</summary>
    public const uint Embeddings = 0;

    /// <summary>The pooled output, before a sequence classifier; far above any encoder layer's sites.</summary>
    public const uint Classifier = 0x4000_0000;

    /// <summary>Encoder layer <paramref name="layer"/>'s attention probabilities.</summary>
    public static uint AttentionProbs(int layer) => (uint)(1 + 3 * layer);

    /// <summary>Encoder layer <paramref name="layer"/>'s attention output projection (before its residual).</summary>
    public static uint AttentionOutput(int layer) => (uint)(2 + 3 * layer);

    /// <summary>Encoder layer <paramref name="layer"/>'s feed-forward output (before its residual).</summary>
    public static uint Output(int layer) => (uint)(3 + 3 * layer);
}
