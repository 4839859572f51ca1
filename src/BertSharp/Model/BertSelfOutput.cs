using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>Attention output projection: dense(H→H), dropout, residual, LayerNorm.</summary>
public sealed class BertSelfOutput : ResidualOutput
{
    internal BertSelfOutput(BertConfig c, BertParameters p, EncoderScratch s, int layer)
        : base(c, p, s, $"bert.encoder.layer.{layer}.attention.output.", c.HiddenSize, DropoutSites.AttentionOutput(layer)) { }
}
