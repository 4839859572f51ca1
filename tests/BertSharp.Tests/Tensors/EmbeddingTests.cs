using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

[Collection("KernelThreads")]
public class EmbeddingTests
{
    [Theory]
    [InlineData(1, 1, 1)] [InlineData(3, 7, 5)] [InlineData(17, 33, 40)] [InlineData(65, 127, 130)] [InlineData(30, 130, 1000)]
    public void ForwardGathersAndAccumulates(int vocab, int dim, int count)
    {
        var table = KT.Random(vocab * dim, dim);
        var rng = new Random(count);
        var ids = Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
        var output = KT.Random(count * dim, 5);
        var expect = KT.D(output);
        for (int i = 0; i < count; i++) for (int c = 0; c < dim; c++) expect[i * dim + c] += table[ids[i] * dim + c];
        Embedding.Forward(ids, table, dim, output, accumulate: true);
        KT.Close(expect, output, 1e-7, 0);
        Embedding.Forward(ids, table, dim, output);
        for (int i = 0; i < count; i++) for (int c = 0; c < dim; c++) Assert.Equal(table[ids[i] * dim + c], output[i * dim + c]);
    }

    [Theory]
    [InlineData(1, 1, 1)] [InlineData(3, 7, 5)] [InlineData(17, 33, 40)] [InlineData(5, 130, 1000)]
    public void BackwardScatterAddsRepeatedIds(int vocab, int dim, int count)
    {
        var rng = new Random(count);
        var ids = Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
        var dout = KT.Random(count * dim, 6);
        var dtable = KT.Random(vocab * dim, 7);
        var expect = KT.D(dtable);
        for (int i = 0; i < count; i++) for (int c = 0; c < dim; c++) expect[ids[i] * dim + c] += dout[i * dim + c];
        Embedding.Backward(ids, dout, dim, dtable);
        KT.Close(expect, dtable, 1e-5, 1e-5 * Math.Sqrt(count / (double)vocab));
    }

    // bf16 output/doutput, float32 table/dtable: a gathered row is the table row rounded once; an accumulated one the
    // float32 sum rounded once; dtable sums the widened bf16 rows in float32 (float32 tolerance).
    [Theory]
    [InlineData(1, 1, 1)] [InlineData(3, 7, 5)] [InlineData(17, 33, 40)] [InlineData(65, 127, 130)] [InlineData(30, 130, 1000)] [InlineData(5, 17, 3)]
    public void Bf16MatchesReference(int vocab, int dim, int count)
    {
        var table = KT.Random(vocab * dim, dim + 60);
        var rng = new Random(count + 61);
        var ids = Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
        var outh = KT.Bf16(KT.Random(count * dim, 62));
        var expect = KT.D(KT.Widen(outh));
        for (int i = 0; i < count; i++) for (int c = 0; c < dim; c++) expect[i * dim + c] += table[ids[i] * dim + c];
        Embedding.Forward<ushort>(ids, table, dim, outh, accumulate: true);
        KT.Close(expect, KT.Widen(outh), KT.Bf16Rtol, 1e-37, "embedding += bf16");
        Embedding.Forward<ushort>(ids, table, dim, outh);
        var rows = ids.SelectMany(id => table.AsSpan(id * dim, dim).ToArray()).ToArray();
        Assert.Equal(KT.Bf16(rows), outh);

        var douth = KT.Bf16(KT.Random(count * dim, 63)); var dout = KT.Widen(douth);
        var dtable = KT.Random(vocab * dim, 64);
        var dexpect = KT.D(dtable);
        for (int i = 0; i < count; i++) for (int c = 0; c < dim; c++) dexpect[ids[i] * dim + c] += dout[i * dim + c];
        Embedding.Backward<ushort>(ids, douth, dim, dtable);
        KT.Close(dexpect, dtable, 1e-5, 1e-5 * Math.Sqrt(count / (double)vocab), "dtable from bf16");
    }

    [Fact]
    public void Bf16ResultsAreIdenticalForAnyThreadCount()
    {
        int vocab = 50, dim = 264, count = 4096;
        var rng = new Random(65);
        var ids = Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
        var douth = KT.Bf16(KT.Random(count * dim, 66)); var table = KT.Random(vocab * dim, 67);
        KT.SameBitsForThreadCounts(() => { var dt = KT.Random(vocab * dim, 68); Embedding.Backward<ushort>(ids, douth, dim, dt); return dt; });
        KT.SameBitsForThreadCounts(() => { var o = KT.Bf16(KT.Random(count * dim, 69)); Embedding.Forward<ushort>(ids, table, dim, o, true); return KT.Widen(o); });
        KT.SameBitsForThreadCounts(() => { var o = new ushort[count * dim]; Embedding.Forward<ushort>(ids, table, dim, o); return KT.Widen(o); });
    }

    [Fact]
    public void DeviceTakesFloat32TablesOrRowsOfTheOutputsOwnType()
    {
        var d = Device.Cpu;
        int vocab = 4, dim = 9;
        int[] idv = [3, 0, 3];
        var table = KT.Random(vocab * dim, 70);
        using var ids = d.Allocate(DType.Int32, idv.Length);
        using var t = d.Allocate(DType.Float32, vocab, dim);
        using var t16 = d.Allocate(DType.BFloat16, vocab, dim);
        using var o = d.Allocate(DType.BFloat16, idv.Length, dim);
        d.CopyToDevice<int>(idv, ids);
        d.CopyToDevice<float>(table, t);
        d.EmbeddingForward(ids, t, dim, o, accumulate: false);
        d.EmbeddingForward(ids, t, dim, o, accumulate: true);
        var want = new ushort[idv.Length * dim];
        Embedding.Forward<ushort>(idv, table, dim, want);
        Embedding.Forward<ushort>(idv, table, dim, want, true);
        var got = new ushort[want.Length];
        d.CopyToHost<ushort>(o, got);
        Assert.Equal(want, got);
        var dt = new float[vocab * dim];
        Embedding.Backward<ushort>(idv, got, dim, dt);
        d.Zero(t);
        d.EmbeddingBackward(ids, o, dim, t);
        Assert.Equal(dt, d.ToArray(t));
        // A bf16 table is rows of a bf16 activation (a gather: copied exactly; its gradient a bf16 scatter-add); a bf16
        // table is never read into Float32 rows, nor Float32 rows scattered into it.
        var rows16 = KT.Bf16(table);
        d.CopyToDevice<ushort>(rows16, t16);
        d.EmbeddingForward(ids, t16, dim, o, accumulate: false);
        d.CopyToHost<ushort>(o, got);
        for (int i = 0; i < idv.Length; i++) Assert.Equal(rows16.AsSpan(idv[i] * dim, dim).ToArray(), got.AsSpan(i * dim, dim).ToArray());
        var drows = new ushort[vocab * dim];
        Embedding.ScatterAdd<ushort>(idv, got, dim, drows);
        d.Zero(t16);
        d.EmbeddingBackward(ids, o, dim, t16);
        var dgot = new ushort[drows.Length];
        d.CopyToHost<ushort>(t16, dgot);
        Assert.Equal(drows, dgot);
        using var o32 = d.Allocate(DType.Float32, idv.Length, dim);
        Assert.Throws<ArgumentException>(() => d.EmbeddingForward(ids, t16, dim, o32, accumulate: false));
        Assert.Throws<ArgumentException>(() => d.EmbeddingBackward(ids, o32, dim, t16));
        Assert.Throws<ArgumentException>(() => Embedding.Forward<double>(idv, table, dim, new double[want.Length]));
    }

    // Rows of a bf16 activation gathered (the pooler's [CLS] rows, the masked positions) and their gradient scattered
    // back with repeated ids: against float64 sums rounded once per add, in the order of i, for any thread count.
    [Theory]
    [InlineData(5, 3, 1)] [InlineData(7, 33, 40)] [InlineData(16, 130, 64)]
    public void Bf16GatherAndScatterAddMatchReference(int vocab, int dim, int count)
    {
        var ids = Enumerable.Range(0, count).Select(i => (i * 7 + 3) % vocab).ToArray();
        var rows = KT.Bf16(KT.Random(vocab * dim, vocab + dim));
        var o = KT.Bf16(KT.Random(count * dim, count));
        var o0 = KT.Widen(o);
        Embedding.Gather<ushort>(ids, rows, dim, o, accumulate: true);
        var r = KT.Widen(rows);
        var got = KT.Widen(o);
        for (int i = 0; i < count; i++)
            for (int c = 0; c < dim; c++)
                Assert.Equal(BFloat16.Round((float)((double)o0[i * dim + c] + r[ids[i] * dim + c])), got[i * dim + c]);
        var dout = KT.Bf16(KT.Random(count * dim, count + 1));
        var dd = KT.Widen(dout);
        var drows = KT.Bf16(KT.Random(vocab * dim, 9));
        var expected = KT.Widen(drows);
        for (int i = 0; i < count; i++)
            for (int c = 0; c < dim; c++)
                expected[ids[i] * dim + c] = BFloat16.Round((float)((double)expected[ids[i] * dim + c] + dd[i * dim + c]));
        var start = (ushort[])drows.Clone();
        Embedding.ScatterAdd<ushort>(ids, dout, dim, drows);
        Assert.Equal(expected, KT.Widen(drows));
        KT.SameBitsForThreadCounts(() =>
        {
            var d = (ushort[])start.Clone();
            Embedding.ScatterAdd<ushort>(ids, dout, dim, d);
            return KT.Widen(d);
        });
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int vocab = 4, dim = 3;
        var ids = new[] { 1, 3, 1, 0, 1 };
        var table = KT.D(KT.Random(vocab * dim, 1)); var w = KT.D(KT.Random(ids.Length * dim, 2));
        double[] Fwd(double[] t) { var o = new double[ids.Length * dim]; for (int i = 0; i < ids.Length; i++) for (int c = 0; c < dim; c++) o[i * dim + c] = t[ids[i] * dim + c]; return o; }
        var fd = KT.FiniteDiff(Fwd, table, w);
        var dt = new float[vocab * dim];
        Embedding.Backward(ids, Array.ConvertAll(w, v => (float)v), dim, dt);
        KT.Close(fd, dt, 1e-6, 1e-7);
    }

    [Fact]
    public void ResultsAreIdenticalForAnyThreadCount()
    {
        int vocab = 50, dim = 264, count = 4096;
        var rng = new Random(3);
        var ids = Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
        var dout = KT.Random(count * dim, 8); var table = KT.Random(vocab * dim, 9);
        KT.SameBitsForThreadCounts(() => { var dt = KT.Random(vocab * dim, 10); Embedding.Backward(ids, dout, dim, dt); return dt; });
        KT.SameBitsForThreadCounts(() => { var o = KT.Random(count * dim, 11); Embedding.Forward(ids, table, dim, o, true); return o; });
    }

    [Fact]
    public void BadIdsAndShapesThrowBeforeWriting()
    {
        var table = new float[12]; var output = new float[9]; output[0] = 7f;
        KT.Throws<ArgumentException>(() => Embedding.Forward(new[] { 0, 4, 1 }, table, 3, output), "ids", "4", "position 1", "4 rows");
        KT.Throws<ArgumentException>(() => Embedding.Forward(new[] { 0, -1, 1 }, table, 3, output), "ids", "-1");
        Assert.Equal(7f, output[0]);
        KT.Throws<ArgumentException>(() => Embedding.Forward(new[] { 0, 1, 1 }, table, 3, new float[8]), "output", "9", "8");
        KT.Throws<ArgumentException>(() => Embedding.Forward(new[] { 0 }, new float[10], 3, output), "table", "10", "3");
        KT.Throws<ArgumentException>(() => Embedding.Backward(new[] { 0, 9 }, new float[6], 3, table), "ids", "9");
        Assert.All(table, v => Assert.Equal(0f, v));
    }
}
