namespace BertSharp.Tensors;

/// <summary>A contiguous range of a <see cref="DeviceTensor"/>: what kernels take. A view does not own memory;
/// it is valid while its tensor is.</summary>
public readonly struct TensorView
{
    /// <summary>The tensor viewed.</summary>
    public readonly DeviceTensor Tensor;
    /// <summary>First element (in elements, not bytes) within <see cref="Tensor"/>, and the number of
    /// elements.</summary>
    public readonly int Offset, Length;

    internal TensorView(DeviceTensor tensor, int offset, int length) => (Tensor, Offset, Length) = (tensor, offset, length);

    /// <summary>The tensor's element type.</summary>
    public DType Type => Tensor.Type;
    /// <summary>True when the view holds no elements.</summary>
    public bool IsEmpty => Length == 0;

    /// <summary>Elements [offset, offset + length) of this view.</summary>
    public TensorView Slice(int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(length), $"view slice [{offset}, {offset} + {length}) is outside the view's {Length} elements");
        return new TensorView(Tensor, Offset + offset, length);
    }

    /// <summary>Elements from <paramref name="offset"/> to the end of this view.</summary>
    public TensorView Slice(int offset) => Slice(offset, Length - offset);

    /// <summary>For diagnostics: element type, range and device, e.g. <c>Float32[0..768) of cpu</c>.</summary>
    public override string ToString() => $"{Type}[{Offset}..{Offset + Length}) of {Tensor.Device.Name}";
}
