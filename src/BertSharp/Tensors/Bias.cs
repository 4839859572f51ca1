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
        Check.Length(y.Length, (long)rows * cols, nameof(y), $"{rows}x{cols}");
        Check.Length(bias.Length, cols, nameof(bias), $"{cols} columns");
        if (rows == 0 || cols == 0) return;
        fixed (float* py = y, pb = bias)
        {
            var body = new AddBody { Y = py, B = pb, Cols = cols };
            KernelParallel.For(rows, Math.Max(1, 32768 / cols), ref body);
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

    /// <summary>dbias[c] += Σ_r dy[r, c]. Split over columns: each column is summed by one thread in
    /// row order, so the result does not depend on the thread count.</summary>
    public static void Backward(ReadOnlySpan<float> dy, int rows, int cols, Span<float> dbias)
    {
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Length(dy.Length, (long)rows * cols, nameof(dy), $"{rows}x{cols}");
        Check.Length(dbias.Length, cols, nameof(dbias), $"{cols} columns");
        if (rows == 0 || cols == 0) return;
        fixed (float* pdy = dy, pdb = dbias)
        {
            var body = new BackBody { Dy = pdy, Db = pdb, Rows = rows, Cols = cols };
            int blocks = (cols + ColBlock - 1) / ColBlock;
            // Work per block is rows × ColBlock; keep small calls on one thread.
            KernelParallel.For(blocks, (int)Math.Max(1, 65536L / ((long)rows * ColBlock)), ref body);
        }
    }

    private const int ColBlock = 32;

    private struct BackBody : IRangeBody
    {
        public float* Dy, Db;
        public int Rows, Cols;
        public void Invoke(int start, int end)
        {
            int c0 = start * ColBlock, c1 = Math.Min(Cols, end * ColBlock);
            // Sum this thread's column range into an L1-resident accumulator row by row (contiguous
            // reads), in pieces of at most 2048 columns.
            float* acc = stackalloc float[2048];
            for (int p0 = c0; p0 < c1; p0 += 2048)
            {
                int w = Math.Min(2048, c1 - p0);
                new Span<float>(acc, w).Clear();
                for (int r = 0; r < Rows; r++)
                {
                    float* d = Dy + (long)r * Cols + p0;
                    int i = 0;
                    for (; i <= w - 8; i += 8) Vector256.Store(Vector256.Load(acc + i) + Vector256.Load(d + i), acc + i);
                    for (; i < w; i++) acc[i] += d[i];
                }
                for (int i = 0; i < w; i++) Db[p0 + i] += acc[i];
            }
        }
    }
}
