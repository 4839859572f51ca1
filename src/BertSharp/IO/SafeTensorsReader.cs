using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace BertSharp.IO;

/// <summary>
/// Reads a safetensors file (HuggingFace's format: 8-byte little-endian header length, a JSON header
/// mapping names to dtype/shape/data_offsets, then the raw little-endian data). Everything in the header
/// is checked against the file before any tensor is read: size limits, known dtypes, shapes that match
/// the byte ranges, ranges inside the file, no overlaps and no holes. Any problem is one clear
/// <see cref="InvalidDataException"/> naming the file.
/// </summary>
public sealed class SafeTensorsReader : IDisposable
{
    /// <summary>Same cap as the reference implementation: a header is at most 100 MB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly FileStream _stream;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _tensors = new(StringComparer.Ordinal);

    /// <summary>The file read.</summary>
    public string Path { get; }
    /// <summary>Every tensor's entry, by name.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;
    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Bytes per element of a safetensors dtype (<c>F32</c>, <c>BF16</c>, ...); 0 for an unknown
    /// one.</summary>
    public static int DtypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    /// <summary>Opens <paramref name="path"/> and checks its whole header; <see cref="FileNotFoundException"/> or <see
    /// cref="InvalidDataException"/> otherwise.</summary>
    public SafeTensorsReader(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            long fileLength = _stream.Length;
            Span<byte> lenBytes = stackalloc byte[8];
            if (fileLength < 8 || _stream.Read(lenBytes) != 8) throw Bad($"truncated: {fileLength} bytes, too short for the 8-byte header length");
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (headerLen > MaxHeaderBytes) throw Bad($"header length {headerLen} exceeds the {MaxHeaderBytes}-byte limit");
            if ((long)headerLen > fileLength - 8) throw Bad($"truncated: header says {headerLen} bytes but the file has {fileLength - 8} after the length");
            var header = new byte[headerLen];
            _stream.ReadExactly(header);
            _dataStart = 8 + (long)headerLen;
            long dataLength = fileLength - _dataStart;
            Metadata = ParseHeader(header, dataLength);
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    private InvalidDataException Bad(string what) => new($"{Path}: not a valid safetensors file: {what}");

    private IReadOnlyDictionary<string, string> ParseHeader(byte[] header, long dataLength)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw Bad($"header is not JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                _tensors[prop.Name] = ParseEntry(prop.Name, prop.Value);
            }
        }
        // Byte ranges: inside the data, no overlap, no hole (as the reference implementation requires).
        long expectedBegin = 0;
        foreach (var t in _tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin != expectedBegin)
                throw Bad(t.Begin < expectedBegin
                    ? $"tensor '{t.Name}' overlaps the previous tensor (starts at {t.Begin}, previous ends at {expectedBegin})"
                    : $"hole in the data before tensor '{t.Name}' (starts at {t.Begin}, previous ends at {expectedBegin})");
            if (t.End > dataLength) throw Bad($"truncated: tensor '{t.Name}' ends at byte {t.End} of the data but the file holds {dataLength}");
            expectedBegin = t.End;
        }
        if (expectedBegin < dataLength)
            throw Bad($"{dataLength - expectedBegin} trailing bytes after the last tensor");
        return metadata;
    }

    private SafeTensorInfo ParseEntry(string name, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad($"entry '{name}' is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad($"tensor '{name}' has no dtype");
        string dtype = dt.GetString()!;
        int size = DtypeSize(dtype);
        if (size == 0) throw Bad($"tensor '{name}' has unknown dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad($"tensor '{name}' has no shape");
        var shape = new long[sh.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw Bad($"tensor '{name}' has an invalid dimension in its shape");
            shape[i++] = v;
            try { count = checked(count * v); } catch (OverflowException) { throw Bad($"tensor '{name}' shape overflows"); }
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad($"tensor '{name}' has no data_offsets pair");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Bad($"tensor '{name}' has invalid data_offsets");
        long bytes;
        try { bytes = checked(count * size); } catch (OverflowException) { throw Bad($"tensor '{name}' shape overflows"); }
        if (end - begin != bytes)
            throw Bad($"tensor '{name}' is {dtype} [{string.Join(", ", shape)}] = {bytes} bytes but its data_offsets span {end - begin}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>True when the file holds a tensor of that name.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The entry of tensor <paramref name="name"/>; <see cref="InvalidDataException"/> when the file has
    /// none.</summary>
    public SafeTensorInfo Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"{Path}: missing tensor '{name}'");

    /// <summary>Reads a tensor's raw bytes into <paramref name="destination"/> (exactly its size).</summary>
    public void ReadBytes(string name, Span<byte> destination)
    {
        var t = Get(name);
        if (destination.Length != t.End - t.Begin)
            throw new ArgumentException($"{Path}: tensor '{name}' holds {t.End - t.Begin} bytes, destination has {destination.Length}");
        _stream.Position = _dataStart + t.Begin;
        _stream.ReadExactly(destination);
    }

    /// <summary>Reads a float32 tensor whose shape must equal <paramref name="expectedShape"/> (when given).</summary>
    public void ReadF32(string name, Span<float> destination, ReadOnlySpan<int> expectedShape = default)
    {
        var t = Get(name);
        if (t.Dtype != "F32") throw new InvalidDataException($"{Path}: tensor '{name}' is {t.Dtype}, expected F32");
        if (!expectedShape.IsEmpty) CheckShape(t, expectedShape);
        if (t.ElementCount != destination.Length)
            throw new InvalidDataException($"{Path}: tensor '{name}' has {t.ElementCount} elements, expected {destination.Length}");
        ReadBytes(name, MemoryMarshal.AsBytes(destination));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
    }

    private void CheckShape(SafeTensorInfo t, ReadOnlySpan<int> expected)
    {
        bool same = t.Shape.Length == expected.Length;
        for (int i = 0; same && i < expected.Length; i++) same = t.Shape[i] == expected[i];
        if (!same)
            throw new InvalidDataException($"{Path}: tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", expected.ToArray())}]");
    }

    /// <summary>Reads a float32 tensor into a new array.</summary>
    public float[] ReadF32(string name)
    {
        var t = Get(name);
        var result = new float[t.ElementCount];
        ReadF32(name, result);
        return result;
    }

    /// <summary>Reads an integer tensor (I64 or I32) as int, range-checked.</summary>
    public int[] ReadInt32(string name)
    {
        var t = Get(name);
        var result = new int[t.ElementCount];
        if (t.Dtype == "I32") ReadBytes(name, MemoryMarshal.AsBytes(result.AsSpan()));
        else if (t.Dtype == "I64")
        {
            var tmp = new long[t.ElementCount];
            ReadBytes(name, MemoryMarshal.AsBytes(tmp.AsSpan()));
            for (int i = 0; i < tmp.Length; i++)
                result[i] = tmp[i] is >= int.MinValue and <= int.MaxValue ? (int)tmp[i]
                    : throw new InvalidDataException($"{Path}: tensor '{name}' value {tmp[i]} does not fit in int32");
        }
        else throw new InvalidDataException($"{Path}: tensor '{name}' is {t.Dtype}, expected I32 or I64");
        return result;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _stream.Dispose();
}
