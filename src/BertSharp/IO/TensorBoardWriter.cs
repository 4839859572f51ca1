using Google.Protobuf;

namespace BertSharp.IO;

/// <summary>
/// One TensorBoard event file (<c>events.out.tfevents.*</c>) of scalars in a folder: TFRecord-framed <c>Event</c>
/// protobufs (wall_time = 1, step = 2, file_version = 3, summary = 5; Summary.value = 1; Value.tag = 1,
/// simple_value = 2), encoded with Google.Protobuf's <see cref="CodedOutputStream"/>. Opening a folder that already has
/// a file continues it: the records after <c>keepUpToStep</c> (written after the checkpoint a resumed run starts
/// from) and a torn tail left by a killed process are cut off first, so no step appears twice.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    private const string Prefix = "events.out.tfevents.";
    private readonly FileStream _file;

    /// <summary>Opens (or starts) the event file in <paramref name="folder"/>, keeping the events up to <paramref name="keepUpToStep"/>.</summary>
    public TensorBoardWriter(string folder, long keepUpToStep)
    {
        Directory.CreateDirectory(folder);
        string? existing = Directory.GetFiles(folder, Prefix + "*").Order(StringComparer.Ordinal).LastOrDefault();
        if (existing is not null)
        {
            var (records, _) = TfRecord.ReadIntact(existing);
            var keep = records.Where(r => StepOf(r) <= keepUpToStep).ToList();
            // Rewritten through a temporary file and a rename: a kill during the rewrite loses nothing.
            string tmp = existing + ".tmp";
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
                foreach (var r in keep) TfRecord.Write(f, r);
            File.Move(tmp, existing, overwrite: true);
            Path = existing;
            _file = new FileStream(existing, FileMode.Append, FileAccess.Write, FileShare.Read);
        }
        else
        {
            // A fixed name (TensorBoard needs only "tfevents" in it): a run folder's file names do not depend on the
            // clock, host or process, and a resumed run continues this one file.
            Path = System.IO.Path.Combine(folder, Prefix + "bertsharp");
            _file = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
            Write(Event(0, w => w.WriteString("brain.Event:2"), fieldNumber: 3, WireFormat.WireType.LengthDelimited));
        }
    }

    /// <summary>The event file.</summary>
    public string Path { get; }

    /// <summary>Appends one event with the scalars at <paramref name="step"/> and flushes it to the file.</summary>
    public void AddScalars(long step, IEnumerable<(string Tag, double Value)> scalars)
    {
        var summary = new MemoryStream();
        var s = new CodedOutputStream(summary);
        foreach (var (tag, value) in scalars)
        {
            int size = CodedOutputStream.ComputeStringSize(tag) + 1 + 1 + 4; // tag (field 1), simple_value (field 2, fixed32)
            s.WriteTag(1, WireFormat.WireType.LengthDelimited); // Summary.value
            s.WriteLength(size);
            s.WriteTag(1, WireFormat.WireType.LengthDelimited);
            s.WriteString(tag);
            s.WriteTag(2, WireFormat.WireType.Fixed32);
            s.WriteFloat((float)value); // TensorBoard's scalars are float32
        }
        s.Flush();
        byte[] bytes = summary.ToArray();
        Write(Event(step, w => w.WriteBytes(ByteString.CopyFrom(bytes)), fieldNumber: 5, WireFormat.WireType.LengthDelimited));
    }

    private static byte[] Event(long step, Action<CodedOutputStream> what, int fieldNumber, WireFormat.WireType type)
    {
        var ms = new MemoryStream();
        var w = new CodedOutputStream(ms);
        w.WriteTag(1, WireFormat.WireType.Fixed64);
        w.WriteDouble(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        if (step != 0)
        {
            w.WriteTag(2, WireFormat.WireType.Varint);
            w.WriteInt64(step);
        }
        w.WriteTag(fieldNumber, type);
        what(w);
        w.Flush();
        return ms.ToArray();
    }

    private void Write(byte[] record)
    {
        TfRecord.Write(_file, record);
        _file.Flush();
    }

    /// <summary>The step of an Event record (0 when it has none).</summary>
    private static long StepOf(byte[] record)
    {
        var r = new CodedInputStream(record);
        for (uint tag; (tag = r.ReadTag()) != 0;)
        {
            if (WireFormat.GetTagFieldNumber(tag) == 2 && WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint) return r.ReadInt64();
            r.SkipLastField();
        }
        return 0;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Dispose();
}
