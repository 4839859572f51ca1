using System.Buffers.Binary;
using System.Numerics;

namespace BertSharp.IO;

/// <summary>
/// TFRecord framing, as TensorBoard's event files use it: each record is <c>uint64 length</c>, <c>uint32
/// masked_crc32c(length)</c>, the data, <c>uint32 masked_crc32c(data)</c>, all little-endian. CRC32C (Castagnoli) is the
/// BCL's <see cref="BitOperations.Crc32C(uint, byte)"/> (hardware instructions where present); the mask is TensorFlow's
/// <c>((crc &gt;&gt; 15) | (crc &lt;&lt; 17)) + 0xa282ead8</c>.
/// </summary>
public static class TfRecord
{
    /// <summary>CRC32C of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF, as the standard defines it).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        while (data.Length >= 8) { crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data)); data = data[8..]; }
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    /// <summary>TensorFlow's masked CRC (a CRC of data that holds CRCs is then not trivially related to them).</summary>
    public static uint Masked(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);

    /// <summary>Writes one record holding <paramref name="data"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Masked(Crc32C(header[..8])));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Masked(Crc32C(data)));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
    }

    /// <summary>The records of <paramref name="path"/> up to the first that is incomplete or fails its CRC (the torn tail
    /// a killed writer leaves), and the byte length of the intact part.</summary>
    public static (List<byte[]> Records, long IntactBytes) ReadIntact(string path)
    {
        var records = new List<byte[]>();
        var bytes = File.ReadAllBytes(path).AsSpan();
        long at = 0;
        while (bytes.Length - at >= 12)
        {
            var rest = bytes[(int)at..];
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(rest);
            if (BinaryPrimitives.ReadUInt32LittleEndian(rest[8..]) != Masked(Crc32C(rest[..8])) || length > (ulong)(rest.Length - 16)) break;
            var data = rest.Slice(12, (int)length);
            if (BinaryPrimitives.ReadUInt32LittleEndian(rest[(12 + (int)length)..]) != Masked(Crc32C(data))) break;
            records.Add(data.ToArray());
            at += 16 + (long)length;
        }
        return (records, at);
    }
}
