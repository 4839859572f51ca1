namespace BertSharp.Tensors;

/// <summary>Chooses the device for <c>--device auto|cpu|cuda|cuda:N</c> and its <see cref="Precision"/>.</summary>
public static class Devices
{
    private static IGpuProvider? s_gpus;

    /// <summary>Called once by the GPU implementation (the CUDA device) as the library loads.</summary>
    internal static void Register(IGpuProvider gpus) => s_gpus = gpus;

    /// <summary>What <paramref name="spec"/> asks for: (true, N) for a GPU, (false, 0) for the CPU, (null, 0) for
    /// auto; throws <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>) for anything else.</summary>
    public static (bool? Cuda, int Ordinal) Parse(string spec)
    {
        string s = (spec ?? "").Trim().ToLowerInvariant();
        if (s is "" or "auto") return (null, 0);
        if (s == "cpu") return (false, 0);
        if (s is "cuda" or "gpu") return (true, 0);
        if (s.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(s[5..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
            return (true, n);
        throw new BertSharpException($"Device {spec}: expected auto, cpu, cuda or cuda:N", ErrorKind.Usage) { Properties = ["Device"] };
    }

    /// <summary>
    /// Opens the device <paramref name="spec"/> names. <c>auto</c> takes the first CUDA GPU when one is usable and the CPU
    /// otherwise; <paramref name="description"/> says which in one line (with the reason when auto falls back to the CPU).
    /// An explicit <c>cuda</c>/<c>cuda:N</c> without that GPU throws <see cref="BertSharpException"/> of
    /// <see cref="ErrorKind.Usage"/> (the option asks for what this machine does not have). Before a GPU is used, it
    /// must pass its self-check against the CPU (run once per GPU, driver, libraries and kernel source, then cached): a
    /// GPU that fails is, for <c>cuda</c>, the same usage error naming the kernels that disagree, and for <c>auto</c> the
    /// CPU with that reason.
    /// </summary>
    public static Device Open(string spec, out string description) => Open(spec, null, out description);

    /// <summary>
    /// Opens the device <paramref name="spec"/> names (as <see cref="Open(string, out string)"/>) computing in
    /// <paramref name="precision"/>; null is <c>auto</c>: bf16 on a CUDA GPU of compute capability 8.0 or newer (an
    /// order of magnitude faster than float32 there), fp32 on the CPU — HuggingFace's Trainer also defaults to fp32
    /// there; bf16 trains faster where the CPU has AVX512_BF16 (docs/PERFORMANCE.md) and is there to be asked for.
    /// <paramref name="description"/> names the device and its precision. A precision the device cannot compute in is
    /// a <see cref="ErrorKind.Usage"/> error naming it.
    /// </summary>
    public static Device Open(string spec, Precision? precision, out string description)
    {
        var (gpu, ordinal) = Parse(spec);
        Device device;
        if (gpu == false) (device, description) = (Device.Cpu.WithPrecision(precision ?? Precision.Fp32), "device: cpu");
        else if (gpu == true)
            device = (s_gpus ?? throw new BertSharpException($"Device {spec.Trim()}: this build has no GPU device", ErrorKind.Usage) { Properties = ["Device"] })
                .Open(ordinal, precision, out description);
        else
        {
            description = "device: cpu (this build has no GPU device)";
            var first = s_gpus?.TryOpenFirst(precision, out description);
            device = first ?? Device.Cpu.WithPrecision(precision ?? Precision.Fp32);
        }
        description += $", precision {device.Precision.Name()}{(precision is null ? " (auto)" : "")}";
        return device;
    }
}
