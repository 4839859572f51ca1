namespace BertSharp.Tensors;

/// <summary>Which micro-kernel family SGEMM uses. All give bitwise identical results (same per-element
/// FMA order and the same K blocking); the choice only changes speed.</summary>
internal enum GemmIsa { Portable, Avx2, Avx512 }
