namespace BertSharp.Tensors;

/// <summary>A family of GPUs <see cref="Devices"/> can open (the CUDA device registers one when the library loads): the
/// compute core chooses among devices without knowing their implementation.</summary>
internal interface IGpuProvider
{
    /// <summary>GPU <paramref name="ordinal"/>, checked against the CPU before first use, computing in
    /// <paramref name="precision"/> (null: what suits the GPU); throws <see cref="BertSharpException"/> (<see
    /// cref="ErrorKind.Usage"/>) when there is no such usable GPU or it fails its check.</summary>
    Device Open(int ordinal, Precision? precision, out string description);

    /// <summary>The first usable GPU as <see cref="Open"/> gives it, or null with the reason (for <c>auto</c>).</summary>
    Device? TryOpenFirst(Precision? precision, out string description);
}
