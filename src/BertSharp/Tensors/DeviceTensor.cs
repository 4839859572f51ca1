namespace BertSharp.Tensors;

/// <summary>Element types a device can hold. BFloat16 is for mixed precision (activations and matrix
/// products in bfloat16, float32 master weights); the CPU device stores it but has no kernels for it yet.</summary>
public enum DType
{
    Float32,
    Int32,
    BFloat16,
}

/// <summary>
/// Memory owned by a <see cref="Tensors.Device"/>: a shape, an element type and the device's storage (a pinned
/// host array on the CPU, a device pointer on a GPU). Layers keep tensors, never arrays, and hand the device
/// <see cref="TensorView"/>s of them; the host reads or writes them only through the device's explicit copies.
/// </summary>
public abstract class DeviceTensor : IDisposable
{
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

    public Device Device { get; }
    public DType Type { get; }
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

    public static implicit operator TensorView(DeviceTensor t) => new(t, 0, t.Length);

    /// <summary>Frees the device memory (the CPU device leaves its array to the garbage collector).</summary>
    public abstract void Dispose();
}

/// <summary>A contiguous range of a <see cref="DeviceTensor"/>: what kernels take. A view does not own memory;
/// it is valid while its tensor is.</summary>
public readonly struct TensorView
{
    public readonly DeviceTensor Tensor;
    public readonly int Offset, Length;

    internal TensorView(DeviceTensor tensor, int offset, int length) => (Tensor, Offset, Length) = (tensor, offset, length);

    public DType Type => Tensor.Type;
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

    public override string ToString() => $"{Type}[{Offset}..{Offset + Length}) of {Tensor.Device.Name}";
}
