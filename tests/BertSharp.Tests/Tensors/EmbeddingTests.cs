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
