using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Embedding lookup (row gather) and its scatter-add gradient. The table is vocab × dim with
/// vocab = table.Length / dim: a float32 parameter (<see cref="Forward{T}"/>, <see cref="Backward{T}"/>), or rows of an
/// activation of the output's own type (<see cref="Gather{T}"/>, <see cref="ScatterAdd{T}"/>: the pooler's [CLS] rows, the
/// masked positions). The gathered rows (output, doutput) are activations: float32 (<c>float</c>) or bfloat16
/// (<c>ushort</c>, <see cref="BFloat16"/>'s bits), summed in float32 and rounded once on store.</summary>
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
            if (typeof(T) == typeof(float)) Forward<Float32Storage, Float32Storage>(pid, ids.Length, pt, dim, po, accumulate);
            else Forward<Float32Storage, BFloat16Storage>(pid, ids.Length, pt, dim, po, accumulate);
        }
    }

    /// <summary>output[i, :] = rows[ids[i], :] (or +=): <see cref="Forward{T}"/> over rows of an activation stored like
    /// the output (a bf16 row gathered into bf16 is copied exactly).</summary>
    public static void Gather<T>(ReadOnlySpan<int> ids, ReadOnlySpan<T> rows, int dim, Span<T> output, bool accumulate = false)
        where T : unmanaged
    {
        int vocab = CheckArgs(ids, rows.Length, dim, output.Length, nameof(rows), nameof(output));
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (ids.Length == 0 || dim == 0 || vocab == 0) return;
        fixed (int* pid = ids)
        fixed (T* pt = rows, po = output)
        {
            if (typeof(T) == typeof(float)) Forward<Float32Storage, Float32Storage>(pid, ids.Length, pt, dim, po, accumulate);
            else Forward<BFloat16Storage, BFloat16Storage>(pid, ids.Length, pt, dim, po, accumulate);
        }
    }

    private static void Forward<TT, TS>(int* ids, int count, void* table, int dim, void* output, bool accumulate)
        where TT : IStorage where TS : IStorage
    {
        var body = new ForwardBody<TT, TS> { Ids = ids, Table = table, Out = output, Dim = dim, Accumulate = accumulate };
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
            if (typeof(T) == typeof(float)) Backward<Float32Storage, Float32Storage>(pid, ids.Length, pd, dim, pt);
            else Backward<BFloat16Storage, Float32Storage>(pid, ids.Length, pd, dim, pt);
        }
    }

    /// <summary>drows[ids[i], :] += doutput[i, :]: <see cref="Backward{T}"/> into rows of an activation gradient stored
    /// like doutput (each sum computed in float32 and rounded once per add).</summary>
    public static void ScatterAdd<T>(ReadOnlySpan<int> ids, ReadOnlySpan<T> doutput, int dim, Span<T> drows) where T : unmanaged
    {
        int vocab = CheckArgs(ids, drows.Length, dim, doutput.Length, nameof(drows), nameof(doutput));
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (ids.Length == 0 || dim == 0 || vocab == 0) return;
        fixed (int* pid = ids)
        fixed (T* pt = drows, pd = doutput)
        {
            if (typeof(T) == typeof(float)) Backward<Float32Storage, Float32Storage>(pid, ids.Length, pd, dim, pt);
            else Backward<BFloat16Storage, BFloat16Storage>(pid, ids.Length, pd, dim, pt);
        }
    }

    private static void Backward<TS, TT>(int* ids, int count, void* doutput, int dim, void* dtable) where TS : IStorage where TT : IStorage
    {
        var body = new BackwardBody<TS, TT> { Ids = ids, Count = count, DTable = dtable, DOut = doutput, Dim = dim };
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

    private struct ForwardBody<TT, TS> : IRangeBody where TT : IStorage where TS : IStorage
    {
        public int* Ids;
        public void* Table;
        public void* Out;
        public int Dim;
        public bool Accumulate;

        public void Invoke(int start, int end)
        {
            int n = Dim;
            void* output = Out; // a local: stores through pointers would otherwise make the JIT reload the field
            float* scratch = typeof(TT) == typeof(Float32Storage) ? null : Scratch.Row(0, n);
            for (int r = start; r < end; r++)
            {
                long t = (long)Ids[r] * n;
                long o = (long)r * n;
                if (!Accumulate)
                {
                    // The table row as float32 (itself, or a bf16 row widened into scratch) is the finished output row:
                    // Target gives the float32 output row to copy it into, or (bf16) the row itself as the staging that
                    // Write rounds into the output (a bf16 row round-trips exactly).
                    float* src = TT.Read(Table, t, n, scratch);
                    float* target = TS.Target(output, o, src);
                    if (target != src) Buffer.MemoryCopy(src, target, n * sizeof(float), n * sizeof(float));
                    TS.Write(output, o, n, src);
                    continue;
                }
                void* srcRow = Storage.At<TT>(Table, t);
                void* dst = Storage.At<TS>(output, o);
                int i = 0;
                for (; i <= n - 8; i += 8) TS.Store(dst, i, TS.Load(dst, i) + TT.Load(srcRow, i));
                for (; i < n; i++) TS.Set(dst, i, TS.Get(dst, i) + TT.Get(srcRow, i));
            }
        }
    }

    private struct BackwardBody<TS, TT> : IRangeBody where TS : IStorage where TT : IStorage
    {
        public int* Ids;
        public int Count, Dim;
        public void* DTable;
        public void* DOut;

        public void Invoke(int start, int end)
        {
            int n = Dim, c0 = start * 8, c1 = Math.Min(n, end * 8);
            void* dout = DOut; // a local: stores through pointers would otherwise make the JIT reload the field
            void* dtable = DTable;
            for (int r = 0; r < Count; r++)
            {
                void* src = Storage.At<TS>(dout, (long)r * n);
                void* dst = Storage.At<TT>(dtable, (long)Ids[r] * n);
                int i = c0;
                for (; i <= c1 - 8; i += 8) TT.Store(dst, i, TT.Load(dst, i) + TS.Load(src, i));
                for (; i < c1; i++) TT.Set(dst, i, TT.Get(dst, i) + TS.Get(src, i));
            }
        }
    }
}
