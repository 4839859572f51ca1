namespace BertSharp.Tensors;

/// <summary>What the kernels' generic entry points share: a kernel that takes spans of <c>T</c> runs on float32 (<c>float</c>)
/// or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits) storage, and refuses any other element type.</summary>
internal static class Storage
{
    /// <summary>The error for an element type no kernel stores.</summary>
    public static ArgumentException Unsupported<T>() =>
        new($"kernel: {typeof(T).Name} elements (activations are float (Float32) or ushort (BFloat16 bits))");
}
