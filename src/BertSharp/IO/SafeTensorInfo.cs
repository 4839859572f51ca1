namespace BertSharp.IO;

/// <summary>One tensor's entry in a safetensors header. Offsets are relative to the start of the data
/// section (right after the header).</summary>
public sealed record SafeTensorInfo(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Product of the shape (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}
