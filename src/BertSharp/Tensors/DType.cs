namespace BertSharp.Tensors;

/// <summary>Element types a device can hold. BFloat16 is for mixed precision: activations and the products'
/// inputs in bfloat16 (every kernel computes in float32 between load and store), float32 master weights.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float: activations, parameters, gradients, moments.</summary>
    Float32,
    /// <summary>32-bit signed integer: token ids, masks, labels, argmax results.</summary>
    Int32,
    /// <summary>bfloat16 (float32's exponent, 7-bit mantissa), 2 bytes per element.</summary>
    BFloat16,
}
