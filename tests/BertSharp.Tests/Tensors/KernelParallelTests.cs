using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

public class KernelParallelTests
{
    private struct MarkBody : IRangeBody
    {
        public int[] Hits;
        public void Invoke(int start, int end)
        {
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 7)]
    [InlineData(2, 1000)]
    [InlineData(5, 3)]
    [InlineData(8, 12345)]
    public void EveryItemRunsExactlyOnce(int threads, int count)
    {
        int saved = KernelParallel.ThreadCount;
        try
        {
            KernelParallel.ThreadCount = threads;
            for (int rep = 0; rep < 200; rep++)
            {
                var body = new MarkBody { Hits = new int[count] };
                KernelParallel.For(count, 1, ref body);
                Assert.All(body.Hits, h => Assert.Equal(1, h));
            }
        }
        finally { KernelParallel.ThreadCount = saved; }
    }

    private struct ChunkRecorder : IRangeBody
    {
        public (int, int)[] Seen;
        public int Chunk;
        public void Invoke(int start, int end) => Seen[start / Chunk] = (start, end);
    }

    [Fact]
    public void FixedChunksDoNotDependOnThreadCount()
    {
        int saved = KernelParallel.ThreadCount;
        try
        {
            (int, int)[]? first = null;
            foreach (int t in new[] { 1, 2, 3, 8 })
            {
                KernelParallel.ThreadCount = t;
                var body = new ChunkRecorder { Seen = new (int, int)[10], Chunk = 100 };
                KernelParallel.FixedChunks(950, 100, ref body);
                Assert.Equal((900, 950), body.Seen[9]);
                first ??= body.Seen;
                Assert.Equal(first, body.Seen);
            }
        }
        finally { KernelParallel.ThreadCount = saved; }
    }

    [Fact]
    public void RejectsZeroThreads()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => KernelParallel.ThreadCount = 0);
        Assert.Contains("ThreadCount", e.Message);
    }
}
