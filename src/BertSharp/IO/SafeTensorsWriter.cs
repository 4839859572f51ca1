using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace BertSharp.IO;

/// <summary>
/// Writes a safetensors file: collect tensors with <see cref="AddF32"/>/<see cref="AddBF16"/>/<see cref="AddF16"/>/<see cref="AddI64"/>, then
/// <see cref="Save"/>, which writes a temporary file and renames it so no half-written file is ever left.
/// </summary>
public sealed class SafeTensorsWriter
{
    private readonly List<(string Name, string Dtype, long[] Shape, ReadOnlyMemory<float> F32, long[]? I64, ushort[]? U16)> _items = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>Sets a <c>__metadata__</c> entry (HF expects <c>format</c> = <c>pt</c>).</summary>
    public void AddMetadata(string key, string value) => _metadata[key] = value;

    /// <summary>Adds a float32 tensor of <paramref name="shape"/> (not copied: <paramref name="data"/> must stay
    /// unchanged until <see cref="Save"/>). <see cref="ArgumentException"/> when the shape does not match the length or
    /// the name was added before.</summary>
    public void AddF32(string name, ReadOnlyMemory<float> data, params int[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length) throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] needs {count} floats, got {data.Length}");
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' added twice");
        _items.Add((name, "F32", shape.Select(s => (long)s).ToArray(), data, null, null));
    }

    /// <summary>Adds a bfloat16 tensor of <paramref name="shape"/> from its bits (see <see cref="WeightsDtypes.Narrow"/>),
    /// as <see cref="AddF32"/>.</summary>
    public void AddBF16(string name, ushort[] bits, params int[] shape) => AddHalf(name, "BF16", bits, shape);

    /// <summary>Adds a float16 tensor of <paramref name="shape"/> from its bits (<see cref="BitConverter.HalfToUInt16Bits"/>),
    /// as <see cref="AddF32"/>.</summary>
    public void AddF16(string name, ushort[] bits, params int[] shape) => AddHalf(name, "F16", bits, shape);

    private void AddHalf(string name, string dtype, ushort[] bits, int[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != bits.Length) throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] needs {count} values, got {bits.Length}");
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' added twice");
        _items.Add((name, dtype, shape.Select(s => (long)s).ToArray(), default, null, bits));
    }

    /// <summary>Adds an int64 tensor of <paramref name="shape"/>, as <see cref="AddF32"/>.</summary>
    public void AddI64(string name, long[] data, params int[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length) throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] needs {count} values, got {data.Length}");
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' added twice");
        _items.Add((name, "I64", shape.Select(s => (long)s).ToArray(), default, data, null));
    }

    /// <summary>Writes header and data to <paramref name="path"/> through a temporary file and a rename.</summary>
    public void Save(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (_metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in _metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var it in _items)
            {
                long bytes = it.I64 is not null ? it.I64.Length * 8L : it.U16 is not null ? it.U16.Length * 2L : it.F32.Length * 4L;
                w.WriteStartObject(it.Name);
                w.WriteString("dtype", it.Dtype);
                w.WriteStartArray("shape");
                foreach (long s in it.Shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces to 8 bytes so the data is aligned (as the reference writer does).
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');

        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)ms.Length);
            fs.Write(len);
            fs.Write(ms.GetBuffer(), 0, (int)ms.Length);
            foreach (var it in _items)
            {
                if (it.I64 is not null) fs.Write(MemoryMarshal.AsBytes(it.I64.AsSpan()));
                else if (it.U16 is not null) fs.Write(MemoryMarshal.AsBytes(it.U16.AsSpan()));
                else fs.Write(MemoryMarshal.AsBytes(it.F32.Span));
            }
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
