namespace BertSharp.Cuda;

/// <summary>One CUDA GPU as the driver reports it.</summary>
/// <param name="Ordinal">The device number (<c>cuda:N</c>).</param>
/// <param name="Name">The product name, e.g. "NVIDIA H200".</param>
/// <param name="TotalMemory">Bytes of device memory.</param>
/// <param name="Major">Compute capability, major (9 on Hopper).</param>
/// <param name="Minor">Compute capability, minor.</param>
/// <param name="Multiprocessors">Streaming multiprocessors.</param>
public sealed record CudaDeviceInfo(int Ordinal, string Name, long TotalMemory, int Major, int Minor, int Multiprocessors)
{
    /// <summary>The NVRTC architecture flag value, e.g. "sm_90".</summary>
    public string Architecture => $"sm_{Major}{Minor}";

    /// <summary>True when the GPU has bfloat16 tensor cores (compute capability 8.0 or later).</summary>
    public bool SupportsBFloat16 => Major >= 8;

    /// <summary>One line: <c>cuda:0 NVIDIA H200, 139.8 GiB, compute 9.0, 132 SMs</c>.</summary>
    public override string ToString() =>
        $"cuda:{Ordinal} {Name}, {TotalMemory / (1024.0 * 1024 * 1024):F1} GiB, compute {Major}.{Minor}, {Multiprocessors} SMs";
}
