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

/// <summary>
/// Memory owned by a <see cref="Tensors.Device"/>: a shape, an element type and the device's storage (a pinned
/// host array on the CPU, a device pointer on a GPU). Layers keep tensors, never arrays, and hand the device
/// <see cref="TensorView"/>s of them; the host reads or writes them only through the device's explicit copies.
/// </summary>
public abstract class DeviceTensor : IDisposable
{
    /// <summary>Checks <paramref name="shape"/> for a device's <see cref="Device.Allocate"/>: throws <see
    /// cref="ArgumentOutOfRangeException"/> on a negative dimension and <see cref="ArgumentException"/> beyond <see
    /// cref="Array.MaxLength"/> elements.</summary>
    protected DeviceTensor(Device device, DType type, int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(shape), $"tensor: negative dimension in [{string.Join(", ", shape)}]");
            n *= d;
        }
        if (n > Array.MaxLength) throw new ArgumentException($"tensor: [{string.Join(", ", shape)}] holds {n:N0} elements, more than one buffer can");
        (Device, Type, Shape, Length) = (device, type, shape, (int)n);
    }

    /// <summary>The device that owns the memory; only its kernels and copies may use the tensor.</summary>
    public Device Device { get; }
    /// <summary>Element type of every element.</summary>
    public DType Type { get; }
    /// <summary>Dimensions given at allocation (row-major; do not modify).</summary>
    public int[] Shape { get; }
    /// <summary>Elements in the tensor (the product of <see cref="Shape"/>).</summary>
    public int Length { get; }

    /// <summary>Elements [offset, offset + length) of the tensor.</summary>
    public TensorView View(int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(length), $"tensor view [{offset}, {offset} + {length}) is outside the tensor's {Length} elements");
        return new TensorView(this, offset, length);
    }

    /// <summary>The first <paramref name="length"/> elements (a smaller shape inside a capacity buffer).</summary>
    public TensorView Prefix(int length) => View(0, length);

    /// <summary>A view of the whole tensor, so a tensor can be passed where a kernel takes a view.</summary>
    public static implicit operator TensorView(DeviceTensor t) => new(t, 0, t.Length);

    /// <summary>Frees the device memory (the CPU device leaves its array to the garbage collector).</summary>
    public abstract void Dispose();
}

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
