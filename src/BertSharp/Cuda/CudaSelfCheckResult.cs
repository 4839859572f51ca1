namespace BertSharp.Cuda;

/// <summary>The outcome of the GPU self-check on one (GPU, driver, library versions, kernel source).</summary>
/// <param name="Passed">Every kernel agreed with the CPU within tolerance.</param>
/// <param name="Failed">The kernels that disagreed or failed, each with its error (empty when passed).</param>
/// <param name="Kernels">How many kernel checks ran.</param>
/// <param name="Device">The GPU (<see cref="CudaDeviceInfo.ToString"/>).</param>
/// <param name="CheckedUtc">When the check ran.</param>
/// <param name="Seconds">How long it took.</param>
public sealed record CudaSelfCheckResult(bool Passed, IReadOnlyList<string> Failed, int Kernels, string Device, DateTime CheckedUtc, double Seconds)
{
    /// <summary>The file the result is cached in (set when read or written).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string File { get; init; } = "";

    /// <summary>True when this process ran the check (false: read from the cache).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Fresh { get; init; }
}
