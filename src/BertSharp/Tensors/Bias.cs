using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Bias add over the rows of a row-major matrix, and its gradient.</summary>
public static unsafe class Bias
{
    /// <summary>y[r, c] += bias[c].</summary>
    public static void Add(Span<float> y, int rows, int cols, ReadOnlySpan<float> bias)
    {
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Matrix(y.Length, rows, cols, nameof(y));
        Check.Count(bias.Length, cols, nameof(bias), "columns");
        if (rows == 0 || cols == 0) return;
        fixed (float* py = y, pb = bias)
        {
            var body = new AddBody { Y = py, B = pb, Cols = cols };
            KernelLoop.For(rows, Math.Max(1, 32768 / cols), ref body);
        }
    }

    private struct AddBody : IRangeBody
    {
        public float* Y, B;
        public int Cols;
        public void Invoke(int start, int end)
        {
            int n = Cols;
            for (int r = start; r < end; r++)
            {
                float* y = Y + (long)r * n;
                int i = 0;
                for (; i <= n - 32; i += 32)
                {
                    Vector256.Store(Vector256.Load(y + i) + Vector256.Load(B + i), y + i);
                    Vector256.Store(Vector256.Load(y + i + 8) + Vector256.Load(B + i + 8), y + i + 8);
                    Vector256.Store(Vector256.Load(y + i + 16) + Vector256.Load(B + i + 16), y + i + 16);
                    Vector256.Store(Vector256.Load(y + i + 24) + Vector256.Load(B + i + 24), y + i + 24);
                }
                for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(y + i) + Vector256.Load(B + i), y + i);
                for (; i < n; i++) y[i] += B[i];
            }
        }
    }

    /// <summary>dbias[c] += Σ_r dy[r, c]. Rows are cut into fixed chunks (a function of the shape only);
    /// each chunk sums its rows into its own partial row, streaming whole rows, and the partials are then
    /// added in chunk order, so the result does not depend on the thread count.</summary>
    public static void Backward(ReadOnlySpan<float> dy, int rows, int cols, Span<float> dbias)
    {
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Matrix(dy.Length, rows, cols, nameof(dy));
        Check.Count(dbias.Length, cols, nameof(dbias), "columns");
        if (rows == 0 || cols == 0) return;
        int chunks = Math.Min(rows, MaxChunks);
        int chunkRows = (rows + chunks - 1) / chunks;
        chunks = (rows + chunkRows - 1) / chunkRows;
        float* part = Scratch.Floats((long)chunks * cols);
        fixed (float* pdy = dy, pdb = dbias)
        {
            var body = new PartialBody { Dy = pdy, Part = part, Rows = rows, Cols = cols, ChunkRows = chunkRows };
            KernelLoop.For(chunks, (int)Math.Max(1, 32768L / ((long)chunkRows * cols)), ref body);
            var combine = new CombineBody { Part = part, Db = pdb, Chunks = chunks, Cols = cols };
            KernelLoop.For((cols + 7) / 8, Math.Max(1, 8192 / chunks), ref combine);
        }
    }

    private const int MaxChunks = 32;

    private struct PartialBody : IRangeBody
    {
        public float* Dy, Part;
        public int Rows, Cols, ChunkRows;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            for (int c = start; c < end; c++)
            {
                float* acc = Part + (long)c * n;
                int r0 = c * ChunkRows, r1 = Math.Min(Rows, r0 + ChunkRows);
                Buffer.MemoryCopy(Dy + (long)r0 * n, acc, (long)n * 4, (long)n * 4);
                for (int r = r0 + 1; r < r1; r++)
                {
                    float* d = Dy + (long)r * n;
                    int i = 0;
                    for (; i <= n - 32; i += 32)
                    {
                        Vector256.Store(Vector256.Load(acc + i) + Vector256.Load(d + i), acc + i);
                        Vector256.Store(Vector256.Load(acc + i + 8) + Vector256.Load(d + i + 8), acc + i + 8);
                        Vector256.Store(Vector256.Load(acc + i + 16) + Vector256.Load(d + i + 16), acc + i + 16);
                        Vector256.Store(Vector256.Load(acc + i + 24) + Vector256.Load(d + i + 24), acc + i + 24);
                    }
                    for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(acc + i) + Vector256.Load(d + i), acc + i);
                    for (; i < n; i++) acc[i] += d[i];
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
