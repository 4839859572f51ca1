using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Bias add over the rows of a row-major matrix, and its gradient. The matrix (y, dy) is an activation:
/// float32 (<c>float</c>) or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits), computed in float32 and rounded
/// once on store; the bias and its gradient are always float32.</summary>
public static unsafe class Bias
{
    /// <summary>y[r, c] += bias[c].</summary>
    public static void Add<T>(Span<T> y, int rows, int cols, ReadOnlySpan<float> bias) where T : unmanaged
    {
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Matrix(y.Length, rows, cols, nameof(y));
        Check.Count(bias.Length, cols, nameof(bias), "columns");
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (rows == 0 || cols == 0) return;
        fixed (T* py = y)
        fixed (float* pb = bias)
        {
            if (typeof(T) == typeof(float)) Add<Float32Storage>(py, rows, cols, pb);
            else Add<BFloat16Storage>(py, rows, cols, pb);
        }
    }

    private static void Add<TS>(void* y, int rows, int cols, float* bias) where TS : IStorage
    {
        var body = new AddBody<TS> { Y = y, B = bias, Cols = cols };
        KernelLoop.For(rows, Math.Max(1, 32768 / cols), ref body);
    }

    private struct AddBody<TS> : IRangeBody where TS : IStorage
    {
        public void* Y;
        public float* B;
        public int Cols;
        public void Invoke(int start, int end)
        {
            int n = Cols;
            for (int r = start; r < end; r++)
            {
                void* row = Storage.At<TS>(Y, (long)r * n);
                int i = 0;
                for (; i <= n - 32; i += 32)
                {
                    TS.Store(row, i, TS.Load(row, i) + Vector256.Load(B + i));
                    TS.Store(row, i + 8, TS.Load(row, i + 8) + Vector256.Load(B + i + 8));
                    TS.Store(row, i + 16, TS.Load(row, i + 16) + Vector256.Load(B + i + 16));
                    TS.Store(row, i + 24, TS.Load(row, i + 24) + Vector256.Load(B + i + 24));
                }
                for (; i <= n - 8; i += 8) TS.Store(row, i, TS.Load(row, i) + Vector256.Load(B + i));
                for (; i < n; i++) TS.Set(row, i, TS.Get(row, i) + B[i]);
            }
        }
    }

    /// <summary>dbias[c] += Σ_r dy[r, c], summed in float32. Rows are cut into fixed chunks (a function of the shape
    /// only); each chunk sums its rows into its own partial row, streaming whole rows, and the partials are then
    /// added in chunk order, so the result does not depend on the thread count.</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, int rows, int cols, Span<float> dbias) where T : unmanaged
    {
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Matrix(dy.Length, rows, cols, nameof(dy));
        Check.Count(dbias.Length, cols, nameof(dbias), "columns");
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        if (rows == 0 || cols == 0) return;
        fixed (T* pdy = dy)
        fixed (float* pdb = dbias)
        {
            if (typeof(T) == typeof(float)) Backward<Float32Storage>(pdy, rows, cols, pdb);
            else Backward<BFloat16Storage>(pdy, rows, cols, pdb);
        }
    }

    private static void Backward<TS>(void* dy, int rows, int cols, float* dbias) where TS : IStorage
    {
        int chunks = Math.Min(rows, MaxChunks);
        int chunkRows = (rows + chunks - 1) / chunks;
        chunks = (rows + chunkRows - 1) / chunkRows;
        float* part = Scratch.Floats((long)chunks * cols);
        var body = new PartialBody<TS> { Dy = dy, Part = part, Rows = rows, Cols = cols, ChunkRows = chunkRows };
        KernelLoop.For(chunks, (int)Math.Max(1, 32768L / ((long)chunkRows * cols)), ref body);
        var combine = new CombineBody { Part = part, Db = dbias, Chunks = chunks, Cols = cols };
        KernelLoop.For((cols + 7) / 8, Math.Max(1, 8192 / chunks), ref combine);
    }

    private const int MaxChunks = 32;

    private struct PartialBody<TS> : IRangeBody where TS : IStorage
    {
        public void* Dy;
        public float* Part;
        public int Rows, Cols, ChunkRows;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            for (int c = start; c < end; c++)
            {
                float* acc = Part + (long)c * n;
                int r0 = c * ChunkRows, r1 = Math.Min(Rows, r0 + ChunkRows);
                // The chunk's first row starts the sum: a float32 row is copied in, a bf16 row converted straight
                // into the partial row (Read returns the partial row itself then).
                float* first = TS.Read(Dy, (long)r0 * n, n, acc);
                if (first != acc) Buffer.MemoryCopy(first, acc, (long)n * 4, (long)n * 4);
                for (int r = r0 + 1; r < r1; r++)
                {
                    void* d = Storage.At<TS>(Dy, (long)r * n);
                    int i = 0;
                    for (; i <= n - 32; i += 32)
                    {
                        Vector256.Store(Vector256.Load(acc + i) + TS.Load(d, i), acc + i);
                        Vector256.Store(Vector256.Load(acc + i + 8) + TS.Load(d, i + 8), acc + i + 8);
                        Vector256.Store(Vector256.Load(acc + i + 16) + TS.Load(d, i + 16), acc + i + 16);
                        Vector256.Store(Vector256.Load(acc + i + 24) + TS.Load(d, i + 24), acc + i + 24);
                    }
                    for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(acc + i) + TS.Load(d, i), acc + i);
                    for (; i < n; i++) acc[i] += TS.Get(d, i);
                }
            }
        }
    }

    private struct CombineBody : IRangeBody
    {
        public float* Part, Db;
        public int Chunks, Cols;

        public void Invoke(int start, int end)
        {
            int n = Cols, j = start * 8, j1 = Math.Min(n, end * 8);
            for (; j <= j1 - 8; j += 8)
            {
                var s = Vector256.Load(Part + j);
                for (int c = 1; c < Chunks; c++) s += Vector256.Load(Part + (long)c * n + j);
                Vector256.Store(Vector256.Load(Db + j) + s, Db + j);
            }
            for (; j < j1; j++)
            {
                float s = Part[j];
                for (int c = 1; c < Chunks; c++) s += Part[(long)c * n + j];
                Db[j] += s;
            }
        }
    }
}
