using System.Runtime.CompilerServices;
using BertSharp.Tensors;

namespace BertSharp.Cuda;

/// <summary>
/// How <see cref="Devices"/> opens CUDA GPUs (registered as the library loads, so the compute core chooses a GPU
/// without depending on this folder): open the GPU, run its <see cref="CudaSelfCheck"/> in fp32 (once per GPU, driver,
/// libraries and kernel source, then cached), then set the precision asked for.
/// </summary>
internal sealed class CudaDevices : IGpuProvider
{
#pragma warning disable CA2255 // the library registers its own GPU device with its own compute core, once
    [ModuleInitializer]
    internal static void Register() => Devices.Register(new CudaDevices());
#pragma warning restore CA2255

    /// <inheritdoc/>
    public Device Open(int ordinal, Precision? precision, out string description)
    {
        var gpu = CudaDevice.Open(ordinal);
        var check = SelfCheck(gpu);
        if (!check.Passed)
        {
            gpu.Dispose();
            throw new BertSharpException($"Device cuda:{ordinal}: {CudaSelfCheck.FailureReason(check)}", ErrorKind.Usage) { Properties = ["Device"] };
        }
        return WithPrecision(gpu, check, precision, out description);
    }

    /// <inheritdoc/>
    public Device? TryOpenFirst(Precision? precision, out string description)
    {
        var info = CudaInfo.Probe();
        if (!info.IsUsable)
        {
            description = $"device: cpu ({info.Reason})";
            return null;
        }
        CudaDevice gpu;
        CudaSelfCheckResult check;
        try
        {
            gpu = CudaDevice.Open(0);
            check = SelfCheck(gpu);
        }
        catch (BertSharpException e)
        {
            description = $"device: cpu ({CudaInfo.NoCudaReason(e.Message)})";
            return null;
        }
        if (!check.Passed)
        {
            gpu.Dispose();
            description = $"device: cpu ({CudaSelfCheck.FailureReason(check)})";
            return null;
        }
        return WithPrecision(gpu, check, precision, out description);
    }

    private static CudaDevice WithPrecision(CudaDevice gpu, CudaSelfCheckResult check, Precision? precision, out string description)
    {
        try
        {
            gpu.SetPrecision(precision ?? (gpu.Info.Major >= 8 ? Precision.Bf16 : Precision.Fp32));
        }
        catch
        {
            gpu.Dispose();
            throw;
        }
        description = $"device: {gpu.Info}" + (check.Fresh ? $" (self-check passed: {check.Kernels} kernel checks in {check.Seconds:F1} s)" : "");
        return gpu;
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
}
