using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Embedding lookup (row gather) and its scatter-add gradient. The table is vocab × dim with
/// vocab = table.Length / dim, always float32; the gathered rows (output, doutput) are activations: float32
/// (<c>float</c>) or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits), summed in float32 and rounded once on store.</summary>
public static unsafe class Embedding
{
    /// <summary>output[i, :] = table[ids[i], :], or += when <paramref name="accumulate"/> (to sum the
    /// word, position and token-type embeddings without a temporary).</summary>
    public static void Forward<T>(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim, Span<T> output, bool accumulate = false)
        where T : unmanaged
    {
        int vocab = CheckArgs(ids, table.Length, dim, output.Length, nameof(table), nameof(output));
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (ids.Length == 0 || dim == 0 || vocab == 0) return;
        fixed (int* pid = ids)
        fixed (float* pt = table)
        fixed (T* po = output)
        {
            if (typeof(T) == typeof(float)) Forward<Float32Storage>(pid, ids.Length, pt, dim, po, accumulate);
            else Forward<BFloat16Storage>(pid, ids.Length, pt, dim, po, accumulate);
        }
    }

    private static void Forward<TS>(int* ids, int count, float* table, int dim, void* output, bool accumulate) where TS : IStorage
    {
        var body = new ForwardBody<TS> { Ids = ids, Table = table, Out = output, Dim = dim, Accumulate = accumulate };
        KernelLoop.For(count, Math.Max(1, 16384 / dim), ref body);
    }

    /// <summary>dtable[ids[i], :] += doutput[i, :], summed in float32. Split over columns: every element of dtable is
    /// accumulated by one thread in the order of i, so repeated ids give the same bits for any thread
    /// count.</summary>
    public static void Backward<T>(ReadOnlySpan<int> ids, ReadOnlySpan<T> doutput, int dim, Span<float> dtable) where T : unmanaged
    {
        int vocab = CheckArgs(ids, dtable.Length, dim, doutput.Length, nameof(dtable), nameof(doutput));
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (ids.Length == 0 || dim == 0 || vocab == 0) return;
        fixed (int* pid = ids)
        fixed (float* pt = dtable)
        fixed (T* pd = doutput)
        {
            if (typeof(T) == typeof(float)) Backward<Float32Storage>(pid, ids.Length, pd, dim, pt);
            else Backward<BFloat16Storage>(pid, ids.Length, pd, dim, pt);
        }
    }

    private static void Backward<TS>(int* ids, int count, void* doutput, int dim, float* dtable) where TS : IStorage
    {
        var body = new BackwardBody<TS> { Ids = ids, Count = count, DTable = dtable, DOut = doutput, Dim = dim };
        int blocks = (dim + 7) / 8;
        KernelLoop.For(blocks, (int)Math.Max(1, 16384L / ((long)count * 8)), ref body);
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

    private struct ForwardBody<TS> : IRangeBody where TS : IStorage
    {
        public int* Ids;
        public float* Table;
        public void* Out;
        public int Dim;
        public bool Accumulate;

        public void Invoke(int start, int end)
        {
            int n = Dim;
            void* output = Out; // a local: stores through pointers would otherwise make the JIT reload the field
            for (int r = start; r < end; r++)
            {
                float* src = Table + (long)Ids[r] * n;
                long o = (long)r * n;
                if (!Accumulate)
                {
                    // The table row is the finished float32 output row: Target gives the float32 output row to copy
                    // it into, or (bf16) the row itself as the staging that Write rounds into the output.
                    float* target = TS.Target(output, o, src);
                    if (target != src) Buffer.MemoryCopy(src, target, n * sizeof(float), n * sizeof(float));
                    TS.Write(output, o, n, src);
                    continue;
                }
                void* dst = Storage.At<TS>(output, o);
                int i = 0;
                for (; i <= n - 8; i += 8) TS.Store(dst, i, TS.Load(dst, i) + Vector256.Load(src + i));
                for (; i < n; i++) TS.Set(dst, i, TS.Get(dst, i) + src[i]);
            }
        }
    }

    private struct BackwardBody<TS> : IRangeBody where TS : IStorage
    {
        public int* Ids;
        public int Count, Dim;
        public float* DTable;
        public void* DOut;

        public void Invoke(int start, int end)
        {
            int n = Dim, c0 = start * 8, c1 = Math.Min(n, end * 8);
            void* dout = DOut; // a local: stores through pointers would otherwise make the JIT reload the field
            for (int r = 0; r < Count; r++)
            {
                void* src = Storage.At<TS>(dout, (long)r * n);
                float* dst = DTable + (long)Ids[r] * n;
                int i = c0;
                for (; i <= c1 - 8; i += 8) Vector256.Store(Vector256.Load(dst + i) + TS.Load(src, i), dst + i);
                for (; i < c1; i++) dst[i] += TS.Get(src, i);
            }
        }
    }
}
