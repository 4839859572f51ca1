using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>Feed-forward output: dense(I→H), dropout, residual, LayerNorm.</summary>
public sealed class BertOutput : ResidualOutput
{
    internal BertOutput(BertConfig c, BertParameters p, EncoderScratch s, int layer)
        : base(c, p, s, $"bert.encoder.layer.{layer}.output.", c.IntermediateSize, DropoutSites.Output(layer)) { }
}
