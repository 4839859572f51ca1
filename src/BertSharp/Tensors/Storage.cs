namespace BertSharp.Tensors;

/// <summary>What the kernels' generic entry points share: a kernel that takes spans of <c>T</c> runs on float32 (<c>float</c>)
/// or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits) storage, and refuses any other element type.</summary>
internal static class Storage
{
    /// <summary>The error for an element type no kernel stores.</summary>
    public static ArgumentException Unsupported<T>() =>
        new($"kernel: {typeof(T).Name} elements (activations are float (Float32) or ushort (BFloat16 bits))");

    /// <summary>The address of element <paramref name="i"/> of <typeparamref name="TS"/> storage at <paramref name="p"/>:
    /// a row's start taken once, so that the loop over the row indexes from it (as plain float32 code does) rather
    /// than recomputing row + column for every access.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static unsafe void* At<TS>(void* p, long i) where TS : IStorage =>
        typeof(TS) == typeof(BFloat16Storage) ? (ushort*)p + i : (float*)p + i;
}
