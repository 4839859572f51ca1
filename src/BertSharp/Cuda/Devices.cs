using BertSharp.Tensors;

namespace BertSharp.Cuda;

/// <summary>Chooses the device for <c>--device auto|cpu|cuda|cuda:N</c>.</summary>
public static class Devices
{
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
        throw new BertSharpException($"--device {spec}: expected auto, cpu, cuda or cuda:N", ErrorKind.Usage);
    }

    /// <summary>
    /// Opens the device <paramref name="spec"/> names. <c>auto</c> takes the first CUDA GPU when one is usable and the CPU
    /// otherwise; <paramref name="description"/> says which in one line (with the reason when auto falls back to the CPU).
    /// An explicit <c>cuda</c>/<c>cuda:N</c> without that GPU throws <see cref="BertSharpException"/> of
    /// <see cref="ErrorKind.Usage"/> (the option asks for what this machine does not have). Before a GPU is used, it
    /// must pass <see cref="CudaSelfCheck"/> (run once per GPU, driver, libraries and kernel source, then cached): a GPU
    /// that fails is, for <c>cuda</c>, the same usage error naming the kernels that disagree, and for <c>auto</c> the CPU
    /// with that reason.
    /// </summary>
    public static Device Open(string spec, out string description) => Open(spec, null, out description);

    /// <summary>
    /// Opens the device <paramref name="spec"/> names (as <see cref="Open(string, out string)"/>) computing in
    /// <paramref name="precision"/>; null is <c>auto</c>: <see cref="AutoPrecision"/>. <paramref name="description"/>
    /// names the device and its precision. A precision the device cannot compute in is a <see cref="ErrorKind.Usage"/>
    /// error naming it.
    /// </summary>
    public static Device Open(string spec, Precision? precision, out string description)
    {
        var device = OpenDevice(spec, out description);
        var chosen = precision ?? AutoPrecision(device);
        try
        {
            // A GPU passed its self-check in fp32; then it takes the precision asked for.
            if (device is CudaDevice gpu) gpu.SetPrecision(chosen);
            else device = device.WithPrecision(chosen);
        }
        catch
        {
            if (device != Device.Cpu) device.Dispose();
            throw;
        }
        description += $", precision {chosen.Name()}{(precision is null ? " (auto)" : "")}";
        return device;
    }

    /// <summary>What <c>--precision auto</c> picks on <paramref name="device"/>: bf16 on a CUDA GPU with tensor cores for
    /// it (compute capability 8.0 or newer: an order of magnitude faster than float32 there), fp32 elsewhere. On the
    /// CPU fp32 stays the default although bf16 trains faster where the CPU has AVX512_BF16 (docs/PERFORMANCE.md):
    /// results then would depend on the CPU model and the default would lose float32's agreement with PyTorch; ask for
    /// bf16 with <c>--precision bf16</c>.</summary>
    public static Precision AutoPrecision(Device device) =>
        device is CudaDevice { Info.Major: >= 8 } ? Precision.Bf16 : Precision.Fp32;

    private static Device OpenDevice(string spec, out string description)
    {
        var (cuda, ordinal) = Parse(spec);
        if (cuda == false)
        {
            description = "device: cpu";
            return Device.Cpu;
        }
        if (cuda == true)
        {
            var gpu = CudaDevice.Open(ordinal);
            var check = SelfCheck(gpu);
            if (!check.Passed)
            {
                gpu.Dispose();
                throw new BertSharpException($"--device {spec.Trim()}: {CudaSelfCheck.FailureReason(check)}", ErrorKind.Usage);
            }
            description = Describe(gpu, check);
            return gpu;
        }
        var info = CudaInfo.Probe();
        if (!info.IsUsable)
        {
            description = $"device: cpu ({info.Reason})";
            return Device.Cpu;
        }
        try
        {
            var gpu = CudaDevice.Open(0);
            var check = SelfCheck(gpu);
            if (!check.Passed)
            {
                gpu.Dispose();
                description = $"device: cpu ({CudaSelfCheck.FailureReason(check)})";
                return Device.Cpu;
            }
            description = Describe(gpu, check);
            return gpu;
        }
        catch (BertSharpException e)
        {
            description = $"device: cpu ({CudaInfo.NoCudaReason(e.Message)})";
            return Device.Cpu;
        }
    }

    private static CudaSelfCheckResult SelfCheck(CudaDevice gpu)
    {
        try { return CudaSelfCheck.Ensure(gpu); }
        catch
        {
            gpu.Dispose();
            throw;
        }
    }

    private static string Describe(CudaDevice gpu, CudaSelfCheckResult check)
        => $"device: {gpu.Info}" + (check.Fresh ? $" (self-check passed: {check.Kernels} kernel checks in {check.Seconds:F1} s)" : "");
}
