namespace BertSharp.Tensors;

/// <summary>How the bf16 GEMM computes: the generated AVX512_BF16 micro-kernel, or the fallback (packing gives float32
/// copies of the bf16 values and the float32 micro-kernel of <see cref="Gemm.Isa"/> runs).</summary>
internal enum GemmBf16Path { Fallback, Avx512Bf16 }
