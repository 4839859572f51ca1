using BertSharp.Tensors;
using BertSharp.Model;

namespace BertSharp.Tests.Model;

public class ParameterLayoutTests
{
    private static BertConfig Small() => new()
    {
        VocabSize = 99, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 37,
        MaxPositionEmbeddings = 64, TypeVocabSize = 2,
    };

    [Fact]
    public void Tensors_do_not_overlap_and_decay_comes_first()
    {
        var layout = new BertParameterLayout(Small());
        var sorted = layout.Entries.OrderBy(e => e.Offset).ToList();
        for (int i = 1; i < sorted.Count; i++)
            Assert.True(sorted[i].Offset >= sorted[i - 1].Offset + sorted[i - 1].Length, sorted[i].Name);
        // Pretraining trains one decayed run and one non-decayed run; each tensor lies inside the run of its flag.
        var runs = layout.RegionsOf(ParameterGroups.Encoder | ParameterGroups.PreTrainingHeads, byDecay: true);
        Assert.Equal(2, runs.Count);
        Assert.True(runs[0].Decay && !runs[1].Decay);
        Assert.All(layout.Entries, e => Assert.Equal(e.Decay, e.Offset < runs[0].Offset + runs[0].Length));
        Assert.All(layout.Entries, e => Assert.Equal(!(e.Name.EndsWith(".bias") || e.Name.Contains("LayerNorm")), e.Decay));
        Assert.Equal(BertParameterLayout.CountParameters(layout.Config), layout.ParameterCount);
        // Q, K, V weights adjacent so that one GEMM computes all three.
        var q = layout["bert.encoder.layer.1.attention.self.query.weight"];
        Assert.Equal(q.Offset + q.Length, layout["bert.encoder.layer.1.attention.self.key.weight"].Offset);
        Assert.Equal(q.Offset + 2 * q.Length, layout["bert.encoder.layer.1.attention.self.value.weight"].Offset);
        var qb = layout["bert.encoder.layer.1.attention.self.query.bias"];
        Assert.Equal(qb.Offset + 2 * qb.Length, layout["bert.encoder.layer.1.attention.self.value.bias"].Offset);
    }

    [Fact]
    public void Names_match_the_pytorch_reference()
    {
        var meta = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture("bert_golden.json")));
        var names = meta.RootElement.GetProperty("parameter_names").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        var layout = new BertParameterLayout(Small());
        Assert.Equal(names.OrderBy(n => n, StringComparer.Ordinal), layout.Entries.Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal));
    }

    [Fact]
    public void Initialisation_is_berts_and_deterministic()
    {
        var c = BertConfig.FromPreset("tiny", vocabSize: 2000);
        var a = new BertParameters(c);
        var b = new BertParameters(c);
        a.Initialize(5);
        b.Initialize(5);
        Assert.Equal(a.Values.ToArray(), b.Values.ToArray());
        b.Initialize(6);
        Assert.NotEqual(a.Values.ToArray(), b.Values.ToArray());

        var w = a.Value("bert.encoder.layer.0.intermediate.dense.weight").ToArray();
        double mean = w.Average(x => (double)x), std = Math.Sqrt(w.Average(x => (x - mean) * (x - mean)));
        Assert.InRange(mean, -0.001, 0.001);
        // Normal(0, 0.02) truncated at 2 sigma has std 0.02 * 0.8796.
        Assert.InRange(std, 0.02 * 0.8796 * 0.97, 0.02 * 0.8796 * 1.03);
        Assert.All(w, x => Assert.InRange(x, -0.04f, 0.04f));
        Assert.All(a.Value("bert.encoder.layer.0.output.LayerNorm.weight").ToArray(), x => Assert.Equal(1f, x));
        Assert.All(a.Value("bert.encoder.layer.0.output.LayerNorm.bias").ToArray(), x => Assert.Equal(0f, x));
        Assert.All(a.Value("cls.predictions.bias").ToArray(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void SplitMix64_matches_the_published_sequence()
    {
        // Reference values of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        var r = new SplitMix64(1234567);
        Assert.Equal(6457827717110365317UL, r.NextUInt64());
        Assert.Equal(3203168211198807973UL, r.NextUInt64());
    }

    [Fact]
    public void Copied_positions_repeat_the_trained_rows_and_leave_the_rest()
    {
        var p = new BertParameters(new BertConfig { VocabSize = 20, HiddenSize = 8, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 16, MaxPositionEmbeddings = 40 });
        p.Initialize(3);
        var before = (float[])p.Values.Clone();
        Assert.Equal(28, p.CopyPositionEmbeddings(12));
        var table = p.Value("bert.embeddings.position_embeddings.weight").ToArray();
        var original = before.AsSpan(p.Layout["bert.embeddings.position_embeddings.weight"].Offset, 40 * 8).ToArray();
        for (int i = 0; i < 40; i++)
            Assert.Equal(original.AsSpan(i % 12 * 8, 8).ToArray(), table.AsSpan(i * 8, 8).ToArray());
        var entry = p.Layout["bert.embeddings.position_embeddings.weight"];
        for (int i = 0; i < before.Length; i++)
            if (i < entry.Offset || i >= entry.Offset + entry.Length) Assert.Equal(before[i], p.Values.AsSpan()[i]);
        Assert.Equal(0, p.CopyPositionEmbeddings(40));
        Assert.Throws<ArgumentException>(() => p.CopyPositionEmbeddings(0));
        Assert.Throws<ArgumentException>(() => p.CopyPositionEmbeddings(41));
    }
}
