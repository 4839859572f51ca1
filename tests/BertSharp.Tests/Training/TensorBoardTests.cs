using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Tests.Cli;
using BertSharp.Tests.Model;

namespace BertSharp.Tests.Training;

/// <summary>Issue 23, item 4: pretrain writes TensorBoard event files; read back here by an independent reader written
/// from the format's specification (TFRecord framing, CRC32C bit by bit, protobuf wire format by hand), every value
/// and step equal to metrics.jsonl, and a resumed run after a kill leaves no step twice.</summary>
public class TensorBoardTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>One Event: its step, wall time, file_version (if any) and summary scalars.</summary>
    private sealed record Event(long Step, double WallTime, string? FileVersion, Dictionary<string, float> Scalars);

    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit as the standard defines it.</summary>
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    private static uint Mask(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);

    private static ulong Varint(byte[] b, ref int at)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[at++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return v;
        }
    }

    /// <summary>Every record of the file, checked: both CRCs, nothing left over.</summary>
    private static List<Event> ReadEvents(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(Mask(Crc32C(bytes.AsSpan(at, 8))), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            var data = bytes.AsSpan(at + 12, (int)length).ToArray();
            Assert.Equal(Mask(Crc32C(data)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            at += 16 + (int)length;
            events.Add(ParseEvent(data));
        }
        return events;
    }

    private static Event ParseEvent(byte[] b)
    {
        long step = 0; double wall = 0; string? version = null;
        var scalars = new Dictionary<string, float>();
        for (int at = 0; at < b.Length;)
        {
            ulong key = Varint(b, ref at);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            if (field == 1 && wire == 1) { wall = BitConverter.ToDouble(b, at); at += 8; }
            else if (field == 2 && wire == 0) step = (long)Varint(b, ref at);
            else if (field == 3 && wire == 2) { int n = (int)Varint(b, ref at); version = Encoding.UTF8.GetString(b, at, n); at += n; }
            else if (field == 5 && wire == 2)
            {
                int n = (int)Varint(b, ref at), end = at + n;
                while (at < end)
                {
                    Assert.Equal(1UL << 3 | 2, Varint(b, ref at)); // Summary.value
                    int vn = (int)Varint(b, ref at), vend = at + vn;
                    string? tag = null; float? value = null;
                    while (at < vend)
                    {
                        ulong vk = Varint(b, ref at);
                        if (vk == (1 << 3 | 2)) { int tn = (int)Varint(b, ref at); tag = Encoding.UTF8.GetString(b, at, tn); at += tn; }
                        else if (vk == (2 << 3 | 5)) { value = BitConverter.ToSingle(b, at); at += 4; }
                        else throw new InvalidDataException($"unexpected Summary.Value field {vk >> 3}");
                    }
                    scalars.Add(tag!, value!.Value);
                }
            }
            else throw new InvalidDataException($"unexpected Event field {field} (wire type {wire})");
        }
        return new Event(step, wall, version, scalars);
    }

    private static List<Event> Folder(string dir)
    {
        var file = Assert.Single(Directory.GetFiles(dir, "events.out.tfevents.*"));
        var events = ReadEvents(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        return events.Skip(1).ToList();
    }

    private static List<JsonElement> Rows(string run, string split) =>
        File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("split").GetString() == split).ToList();

    /// <summary>Every metrics.jsonl row of both splits has exactly one event at its step with its values (as float32).</summary>
    private static void AssertMatchesMetrics(string run)
    {
        var train = Folder(Path.Combine(run, "tensorboard", "train"));
        var trainRows = Rows(run, "train");
        Assert.Equal(trainRows.Select(r => r.GetProperty("step").GetInt64()), train.Select(e => e.Step));
        foreach (var (row, e) in trainRows.Zip(train))
        {
            Assert.Equal((float)row.GetProperty("loss").GetDouble(), e.Scalars["loss"]);
            Assert.Equal((float)row.GetProperty("mlm_loss").GetDouble(), e.Scalars["mlm_loss"]);
            Assert.Equal((float)row.GetProperty("nsp_loss").GetDouble(), e.Scalars["nsp_loss"]);
            Assert.Equal((float)row.GetProperty("mlm_acc").GetDouble(), e.Scalars["mlm_accuracy"]);
            Assert.Equal((float)row.GetProperty("nsp_acc").GetDouble(), e.Scalars["nsp_accuracy"]);
            Assert.Equal((float)row.GetProperty("lr").GetDouble(), e.Scalars["learning_rate"]);
            Assert.Equal((float)row.GetProperty("grad_norm").GetDouble(), e.Scalars["grad_norm"]);
            Assert.True(e.Scalars["tokens_per_second"] > 0);
            Assert.InRange(e.WallTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        }
        var validation = Folder(Path.Combine(run, "tensorboard", "validation"));
        var validationRows = Rows(run, "validation");
        Assert.Equal(validationRows.Select(r => r.GetProperty("step").GetInt64()), validation.Select(e => e.Step));
        foreach (var (row, e) in validationRows.Zip(validation))
        {
            Assert.Equal((float)row.GetProperty("loss").GetDouble(), e.Scalars["loss"]);
            Assert.Equal((float)row.GetProperty("mlm_acc").GetDouble(), e.Scalars["mlm_accuracy"]);
            Assert.Equal((float)row.GetProperty("nsp_acc").GetDouble(), e.Scalars["nsp_accuracy"]);
            Assert.Equal((float)Math.Exp(row.GetProperty("mlm_loss").GetDouble()), e.Scalars["perplexity"]);
        }
    }

    [Fact]
    public void The_crc_is_crc32c()
    {
        var check = "123456789"u8;
        Assert.Equal(0xE3069283u, Crc32C(check)); // the standard's check value
        Assert.Equal(0xE3069283u, TfRecord.Crc32C(check));
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        for (int n = 0; n < 40; n++) Assert.Equal(Crc32C(data.AsSpan(n, 950)), TfRecord.Crc32C(data.AsSpan(n, 950)));
    }

    [Fact]
    public void Pretrain_writes_every_step_and_evaluation_and_a_resume_after_a_kill_repeats_none()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run");
        var r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, run, steps: 6));
        Assert.True(r.Code == 0, r.Err);
        AssertMatchesMetrics(run);
        Assert.Equal([1L, 2, 3, 4, 5, 6], Folder(Path.Combine(run, "tensorboard", "train")).Select(e => e.Step));
        Assert.Equal([0L, 3, 6], Folder(Path.Combine(run, "tensorboard", "validation")).Select(e => e.Step));

        // What kill -9 during step 6's checkpoint leaves: steps 4–6 logged, checkpoint-6 missing, a torn record at the end.
        Directory.Delete(Path.Combine(run, "checkpoints", "checkpoint-6"), recursive: true);
        string trainFile = Directory.GetFiles(Path.Combine(run, "tensorboard", "train"), "events.out.tfevents.*").Single();
        using (var f = new FileStream(trainFile, FileMode.Append)) f.Write([0x20, 0, 0, 0, 0, 0, 0, 0, 0x13, 0x37]);
        r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, run, steps: 6));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("resum", r.Out + r.Err, StringComparison.OrdinalIgnoreCase);
        AssertMatchesMetrics(run); // the same file, continued: steps 1–6 once each, values of the resumed run
        Assert.Equal([1L, 2, 3, 4, 5, 6], Folder(Path.Combine(run, "tensorboard", "train")).Select(e => e.Step));
        Assert.Equal([0L, 3, 6], Folder(Path.Combine(run, "tensorboard", "validation")).Select(e => e.Step));
    }

    [Fact]
    public void Report_to_none_writes_no_event_files_and_an_unknown_target_is_exit_2()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run");
        var r = CliTestSupport.Run([.. CliTestSupport.TinyPretrain(corpus, config, run, steps: 3), "--report-to", "wandb"]);
        Assert.Equal(2, r.Code);
        Assert.Equal("error: --report-to 'wandb': expected tensorboard or none", Assert.Single(r.Err.Split('\n'), l => l.StartsWith("error:")));
        Assert.False(Directory.Exists(run));
        r = CliTestSupport.Run([.. CliTestSupport.TinyPretrain(corpus, config, run, steps: 3), "--report-to", "none"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(Path.Combine(run, "metrics.jsonl")));
        Assert.False(Directory.Exists(Path.Combine(run, "tensorboard")));
    }
}
