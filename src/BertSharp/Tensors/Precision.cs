namespace BertSharp.Tensors;

/// <summary>
/// How a device computes matrix products. Parameters, gradients and AdamW moments are Float32 in every precision
/// (master weights): only the inputs of the products change.
/// </summary>
public enum Precision
{
    /// <summary>Float32 inputs, float32 products and sums (IEEE single precision throughout).</summary>
    Fp32,
    /// <summary>Float32 tensors whose products run on tensor cores in TF32 (10-bit mantissa inputs, float32 sums):
    /// a CUDA GPU of compute capability 8.0 or newer only.</summary>
    Tf32,
    /// <summary>Inputs rounded to bfloat16 (round to nearest even), exact products, float32 accumulation: what bf16
    /// tensor cores and the CPU's AVX512_BF16 dot-product instruction compute. No loss scaling is needed: bfloat16
    /// keeps float32's exponent range.</summary>
    Bf16,
}
