namespace BertSharp.Model;

/// <summary>One named tensor inside a flat buffer: its HuggingFace name, where it starts, its shape, whether
/// AdamW decays it (biases and LayerNorm parameters are not decayed), and its group.</summary>
public sealed record ParameterInfo(string Name, int Offset, int[] Shape, bool Decay, ParameterGroups Group)
{
    /// <summary>Elements in the tensor (the product of <see cref="Shape"/>).</summary>
    public int Length { get; } = Shape.Aggregate(1, (a, b) => a * b);
}
