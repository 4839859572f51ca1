using BertSharp.Tensors;

namespace BertSharp.Tests;

/// <summary>The tests run the models on the CPU device, whose tensors are host memory: these give the spans
/// behind them (product code copies explicitly instead).</summary>
internal static class CpuTensorExtensions
{
    public static Span<float> AsSpan(this DeviceTensor t) => CpuDevice.Floats(t);
    public static Span<float> AsSpan(this DeviceTensor t, int offset, int length) => CpuDevice.Floats(t).Slice(offset, length);
    public static Span<float> AsSpan(this TensorView v) => CpuDevice.Floats(v);
    public static float[] ToArray(this DeviceTensor t) => CpuDevice.Floats(t).ToArray();
    public static float[] ToArray(this TensorView v) => v.Tensor.Device.ToArray(v); // Float32 or BFloat16 (widened)
    public static float[] Clone(this DeviceTensor t) => CpuDevice.Floats(t).ToArray();
}
