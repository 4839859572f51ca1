namespace BertSharp.IO;

/// <summary>The element type of the weights an exported model folder stores (<see cref="ModelFolder.WeightsDtype"/>).
/// Checkpoints are always <see cref="F32"/>; the half-precision types are for handing a model to HuggingFace.</summary>
public enum WeightsDtype
{
    /// <summary>float32 (safetensors <c>F32</c>, <c>torch_dtype: "float32"</c>): exact, the default.</summary>
    F32,
    /// <summary>bfloat16 (safetensors <c>BF16</c>, <c>torch_dtype: "bfloat16"</c>): float32's range, 8 significant bits,
    /// rounded to nearest even.</summary>
    BF16,
    /// <summary>float16 (safetensors <c>F16</c>, <c>torch_dtype: "float16"</c>): 11 significant bits, largest finite
    /// value 65504, rounded to nearest even; a weight beyond that range is refused rather than written as infinity.</summary>
    F16,
}
