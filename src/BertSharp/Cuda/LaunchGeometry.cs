namespace BertSharp.Cuda;

/// <summary>How each kernel family is launched, from the shapes alone (so results never depend on timing): host
/// code, unit-tested without a GPU.</summary>
public static class LaunchGeometry
{
    /// <summary>Threads per block of element-wise and row kernels (a multiple of 32).</summary>
    public const int Block = 256;

    /// <summary>Most blocks of a grid-stride element-wise launch (each thread then loops).</summary>
    public const int MaxElementwiseBlocks = 65536;

    /// <summary>Blocks of <see cref="SumOfSquares"/>'s first pass at most (also the partials buffer's length).</summary>
    public const int SumOfSquaresBlocks = 1024;

    /// <summary>Grid-stride launch over <paramref name="n"/> elements: ⌈n / 256⌉ blocks, at most 65,536.</summary>
    public static Launch Elementwise(long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        long blocks = Math.Min((n + Block - 1) / Block, MaxElementwiseBlocks);
        return new Launch((uint)blocks, 1, Block, 1);
    }

    /// <summary>One block per row; the threads are the smallest multiple of 32 covering <paramref name="cols"/>, between
    /// 32 and <paramref name="maxThreads"/> (each thread strides over the row when it is longer).</summary>
    public static Launch Rows(int rows, int cols, int maxThreads = Block)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (maxThreads < 32 || maxThreads % 32 != 0 || maxThreads > 1024)
            throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "a multiple of 32 in [32, 1024]");
        int threads = Math.Clamp((cols + 31) / 32 * 32, 32, maxThreads);
        return new Launch(cols == 0 ? 0u : (uint)rows, 1, (uint)threads, 1);
    }

    /// <summary>Most row chunks of a column reduction (also bounds its scratch: chunks × columns floats).</summary>
    public const int MaxColumnChunks = 1024;

    /// <summary>Rows per chunk of a column reduction (bias and LayerNorm parameter gradients): 64, or more when that
    /// would make over <see cref="MaxColumnChunks"/> chunks. From the row count alone, so the summation order (and
    /// the result) is the same on every GPU.</summary>
    public static int ColumnChunkRows(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        return Math.Max(64, (int)(((long)rows + MaxColumnChunks - 1) / MaxColumnChunks));
    }

    /// <summary>Chunks of a column reduction over <paramref name="rows"/> rows.</summary>
    public static int ColumnChunks(int rows) => rows == 0 ? 0 : (rows + ColumnChunkRows(rows) - 1) / ColumnChunkRows(rows);

    /// <summary>A column reduction's first pass: one block of 32 columns × 8 row lanes per (32 columns, row chunk), so
    /// a [16384, 768] gradient runs 24 × 256 blocks instead of 24.</summary>
    public static Launch ColumnPartials(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        return new Launch((uint)((cols + 31) / 32), (uint)ColumnChunks(rows), 32, 8);
    }

    /// <summary>Positions per chunk of the embedding scatter-add: the power of two nearest above √count, between 16
    /// and 1024, so both the in-chunk sums and the chains across chunks stay short. From the count alone.</summary>
    public static int EmbeddingChunk(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int chunk = 16;
        while (chunk < 1024 && (long)chunk * chunk < count) chunk *= 2;
        return chunk;
    }

    /// <summary>The embedding scatter-add's link pass: one thread per position, <see cref="Block"/> per block, no cap
    /// (each block walks all ids in shared-memory tiles).</summary>
    public static Launch EmbeddingLinks(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return new Launch((uint)((count + Block - 1) / Block), 1, Block, 1);
    }

    /// <summary>The embedding scatter-add's sum passes: one block per position (x), 128 columns per block (y).</summary>
    public static Launch EmbeddingRows(long count, int dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(dim);
        return new Launch(dim == 0 ? 0u : (uint)count, (uint)((dim + 127) / 128), 128, 1);
    }

    /// <summary>Dropout: one thread per Philox block of four elements of the global tensor that the view
    /// [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="n"/>) touches.</summary>
    public static Launch Dropout(long n, long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        return Elementwise(DropoutBlocks(n, offset));
    }

    /// <summary>Philox blocks (four elements each) touched by elements [offset, offset + n).</summary>
    public static long DropoutBlocks(long n, long offset) => n == 0 ? 0 : ((offset + n + 3) >> 2) - (offset >> 2);

    /// <summary>The first pass of Σx²: ⌈n / 256⌉ blocks, at most <see cref="SumOfSquaresBlocks"/>, at least 1.</summary>
    public static Launch SumOfSquares(long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        long blocks = Math.Clamp((n + Block - 1) / Block, 1, SumOfSquaresBlocks);
        return new Launch((uint)blocks, 1, Block, 1);
    }
}
