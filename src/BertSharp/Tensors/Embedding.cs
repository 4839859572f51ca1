using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Embedding lookup (row gather) and its scatter-add gradient. The table is vocab × dim with
/// vocab = table.Length / dim.</summary>
public static unsafe class Embedding
{
    /// <summary>output[i, :] = table[ids[i], :], or += when <paramref name="accumulate"/> (to sum the
    /// word, position and token-type embeddings without a temporary).</summary>
    public static void Forward(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim, Span<float> output, bool accumulate = false)
    {
        int vocab = CheckArgs(ids, table.Length, dim, output.Length, nameof(table), nameof(output));
        if (ids.Length == 0 || dim == 0 || vocab == 0) return;
        fixed (int* pid = ids)
        fixed (float* pt = table, po = output)
        {
            var body = new ForwardBody { Ids = pid, Table = pt, Out = po, Dim = dim, Accumulate = accumulate };
            KernelLoop.For(ids.Length, Math.Max(1, 16384 / dim), ref body);
        }
    }

    /// <summary>dtable[ids[i], :] += doutput[i, :]. Split over columns: every element of dtable is
    /// accumulated by one thread in the order of i, so repeated ids give the same bits for any thread
    /// count.</summary>
    public static void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> doutput, int dim, Span<float> dtable)
    {
        int vocab = CheckArgs(ids, dtable.Length, dim, doutput.Length, nameof(dtable), nameof(doutput));
        if (ids.Length == 0 || dim == 0 || vocab == 0) return;
        fixed (int* pid = ids)
        fixed (float* pt = dtable, pd = doutput)
        {
            var body = new BackwardBody { Ids = pid, Count = ids.Length, DTable = pt, DOut = pd, Dim = dim };
            int blocks = (dim + 7) / 8;
            KernelLoop.For(blocks, (int)Math.Max(1, 16384L / ((long)ids.Length * 8)), ref body);
        }
    }

    private static int CheckArgs(ReadOnlySpan<int> ids, int tableLength, int dim, int rowsLength, string tableName, string rowsName)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dim must be positive, got {dim}");
        if (tableLength % dim != 0)
            throw new ArgumentException($"{tableName}: length {tableLength} is not a multiple of dim {dim}", tableName);
        int vocab = tableLength / dim;
        Check.Matrix(rowsLength, ids.Length, dim, rowsName);
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)vocab)
                throw new ArgumentException($"ids: id {ids[i]} at position {i} is outside the table's {vocab} rows", nameof(ids));
        }
        return vocab;
    }

    private struct ForwardBody : IRangeBody
    {
        public int* Ids;
        public float* Table, Out;
        public int Dim;
        public bool Accumulate;

        public void Invoke(int start, int end)
        {
            int n = Dim;
            for (int r = start; r < end; r++)
            {
                float* src = Table + (long)Ids[r] * n, dst = Out + (long)r * n;
                if (!Accumulate)
                {
                    Buffer.MemoryCopy(src, dst, n * sizeof(float), n * sizeof(float));
                    continue;
                }
                int i = 0;
                for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
                for (; i < n; i++) dst[i] += src[i];
            }
        }
    }

    private struct BackwardBody : IRangeBody
    {
        public int* Ids;
        public int Count, Dim;
        public float* DTable, DOut;

        public void Invoke(int start, int end)
        {
            int n = Dim, c0 = start * 8, c1 = Math.Min(n, end * 8);
            for (int r = 0; r < Count; r++)
            {
                float* src = DOut + (long)r * n, dst = DTable + (long)Ids[r] * n;
                int i = c0;
                for (; i <= c1 - 8; i += 8) Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
                for (; i < c1; i++) dst[i] += src[i];
            }
        }
    }
}
