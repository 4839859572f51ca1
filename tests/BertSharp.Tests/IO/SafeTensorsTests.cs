using System.Buffers.Binary;
using System.Text;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.Model;

namespace BertSharp.Tests.IO;

public class SafeTensorsTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Craft(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void Round_trips_floats_ints_and_metadata()
    {
        string path = Path.Combine(_dir, "a.safetensors");
        var w = new SafeTensorsWriter();
        w.AddMetadata("format", "pt");
        w.AddF32("x", new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        w.AddI64("ids", new long[] { 7, -1 }, 2);
        w.AddF32("s", new float[] { 9 });
        w.Save(path);
        Assert.False(File.Exists(path + ".tmp"));
        using var r = new SafeTensorsReader(path);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, r.ReadF32("x"));
        Assert.Equal(new[] { 7, -1 }, r.ReadInt32("ids"));
        Assert.Equal(new long[] { 2, 3 }, r.Get("x").Shape);
        Assert.Empty(r.Get("s").Shape);
        Assert.Equal("pt", r.Metadata["format"]);
        // The header is padded so that the data starts 8-byte aligned.
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);
    }

    [Fact]
    public void Reads_the_pytorch_written_fixture()
    {
        using var r = new SafeTensorsReader(ModelTestFiles.Fixture("bert_golden.safetensors"));
        Assert.Equal(new long[] { 3, 16 }, r.Get("input_ids").Shape);
        Assert.Equal(new long[] { 99, 32 }, r.Get("param/bert.embeddings.word_embeddings.weight").Shape);
        Assert.Equal(2, r.ReadInt32("input_ids")[0]); // [CLS]
    }

    [Theory]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "truncated")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "data_offsets span 8")]
    [InlineData("{\"x\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'Q7'")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "invalid dimension")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "trailing bytes")]
    [InlineData("{\"x\": 3}", 0, "not an object")]
    [InlineData("[1,2]", 0, "not a JSON object")]
    [InlineData("{\"x\":", 0, "not JSON")]
    public void Crafted_files_are_refused_with_a_clear_error(string header, int dataBytes, string expected)
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, Craft(header, dataBytes));
        var e = Assert.Throws<InvalidDataException>(() => new SafeTensorsReader(path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path + ": not a valid safetensors file", e.Message);
    }

    [Fact]
    public void Huge_or_truncated_header_length_is_refused()
    {
        string path = Path.Combine(_dir, "big.safetensors");
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("exceeds", Assert.Throws<InvalidDataException>(() => new SafeTensorsReader(path)).Message);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => new SafeTensorsReader(path)).Message);
        File.WriteAllBytes(path, new byte[3]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => new SafeTensorsReader(path)).Message);
    }

    [Fact]
    public void Wrong_dtype_or_shape_is_refused_on_read()
    {
        string path = Path.Combine(_dir, "a.safetensors");
        var w = new SafeTensorsWriter();
        w.AddF32("x", new float[6], 2, 3);
        w.AddI64("i", new long[2], 2);
        w.Save(path);
        using var r = new SafeTensorsReader(path);
        Assert.Contains("shape [2, 3], expected [3, 2]", Assert.Throws<InvalidDataException>(() => r.ReadF32("x", new float[6], [3, 2])).Message);
        Assert.Contains("is I64, expected F32", Assert.Throws<InvalidDataException>(() => r.ReadF32("i")).Message);
        Assert.Contains("missing tensor 'z'", Assert.Throws<InvalidDataException>(() => r.ReadF32("z")).Message);
    }
}

public class CheckpointFolderTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static BertParameters Model()
    {
        var p = new BertParameters(new BertConfig
        {
            VocabSize = 50, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 24,
            MaxPositionEmbeddings = 32,
        });
        p.Initialize(3);
        return p;
    }

    [Fact]
    public void Saves_renames_and_keeps_the_last_k()
    {
        var p = Model();
        var m = p.Device.Allocate(BertSharp.Tensors.DType.Float32, p.Layout.Length);
        var v = p.Device.Allocate(BertSharp.Tensors.DType.Float32, p.Layout.Length);
        m.AsSpan()[5] = 1.5f;
        v.AsSpan()[7] = 2.5f;
        for (int step = 1; step <= 4; step++)
        {
            var state = new TrainerState { Step = step, RngStates = { ["data"] = 42UL + (ulong)step } };
            Checkpoint.Save(_dir, p, m, v, state, ["[PAD]", "[UNK]"], keepLast: 2);
        }
        var list = Checkpoint.List(_dir);
        Assert.Equal(new long[] { 3, 4 }, list.Select(x => x.Step));
        Assert.Empty(Directory.GetDirectories(_dir, ".*"));
        string latest = Checkpoint.Latest(_dir)!;
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "optimizer.safetensors", "trainer_state.json" })
            Assert.True(File.Exists(Path.Combine(latest, f)), f);

        var back = Checkpoint.LoadParameters(latest);
        Assert.Equal(p.Values.ToArray(), back.Values.ToArray());
        var m2 = p.Device.Allocate(BertSharp.Tensors.DType.Float32, p.Layout.Length);
        var v2 = p.Device.Allocate(BertSharp.Tensors.DType.Float32, p.Layout.Length);
        Checkpoint.LoadOptimizer(Path.Combine(latest, "optimizer.safetensors"), p.Layout, m2, v2);
        Assert.Equal(m.ToArray(), m2.ToArray());
        Assert.Equal(v.ToArray(), v2.ToArray());
        var st = Checkpoint.LoadState(Path.Combine(latest, "trainer_state.json"));
        Assert.Equal(4, st.Step);
        Assert.Equal(46UL, st.RngStates["data"]);
    }

    [Fact]
    public void Wrong_shape_missing_tensor_and_truncated_file_are_refused()
    {
        var p = Model();
        string path = Path.Combine(_dir, "model.safetensors");

        // Wrong shape: a model with a different vocabulary.
        var other = new BertParameters(new BertConfig
        {
            VocabSize = 51, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 24,
            MaxPositionEmbeddings = 32,
        });
        Checkpoint.SaveModel(path, other);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path, p));
        Assert.Contains("'bert.embeddings.word_embeddings.weight' has shape [51, 16], expected [50, 16]", e.Message);

        // Missing tensor.
        var w = new SafeTensorsWriter();
        foreach (var en in p.Layout.Entries.Where(x => x.Name != "bert.pooler.dense.bias"))
            w.AddF32(en.Name, p.Values.ToArray().AsMemory(en.Offset, en.Length), en.Shape);
        w.Save(path);
        e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path, p));
        Assert.Contains("missing tensor 'bert.pooler.dense.bias'", e.Message);

        // Truncated file.
        Checkpoint.SaveModel(path, p);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
        e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path, p));
        Assert.Contains("truncated", e.Message);
        Assert.StartsWith(path, e.Message);
    }
}
