namespace BertSharp.Tensors;

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
