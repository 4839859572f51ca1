using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>LayerNorm over the last dimension: y = (x − mean)·rstd·gamma + beta, rstd = 1/√(var + eps)
/// (biased variance, as BERT and PyTorch). Rows are independent and split over threads; the
/// parameter gradients are reduced in fixed row chunks combined in index order. The activations (x, y, dy, dx) are
/// float32 (<c>float</c>) or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits, all of one call the same): a bf16
/// row is widened once into per-thread scratch, computed in float32 and rounded once on store; gamma, beta, the
/// statistics and the parameter gradients are float32.</summary>
public static unsafe class LayerNorm
{
    /// <summary>y [rows, cols] is overwritten; mean and rstd [rows] receive each row's statistics for <see
    /// cref="Backward"/>.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int rows, int cols, ReadOnlySpan<float> gamma,
        ReadOnlySpan<float> beta, float eps, Span<T> y, Span<float> mean, Span<float> rstd) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Matrix(x.Length, rows, cols, nameof(x));
        Check.Count(gamma.Length, cols, nameof(gamma), "columns");
        Check.Count(beta.Length, cols, nameof(beta), "columns");
        Check.Matrix(y.Length, rows, cols, nameof(y));
        Check.Count(mean.Length, rows, nameof(mean), "rows");
        Check.Count(rstd.Length, rows, nameof(rstd), "rows");
        if (rows == 0 || cols == 0) return;
        fixed (T* px = x, py = y)
        fixed (float* pg = gamma, pb = beta, pm = mean, pr = rstd)
        {
            if (typeof(T) == typeof(float)) ForwardCore<Float32Storage>(px, pg, pb, py, pm, pr, rows, cols, eps);
            else ForwardCore<BFloat16Storage>(px, pg, pb, py, pm, pr, rows, cols, eps);
        }
    }

    private static void ForwardCore<TS>(void* x, float* gamma, float* beta, void* y, float* mean, float* rstd, int rows, int cols, float eps)
        where TS : IStorage
    {
        var body = new ForwardBody<TS> { X = x, G = gamma, B = beta, Y = y, Mean = mean, Rstd = rstd, Cols = cols, Eps = eps };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    private struct ForwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* X, Y;
        public float* G, B, Mean, Rstd;
        public int Cols;
        public float Eps;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            // Float32 rows are used in place (no scratch); a bf16 row is staged in this thread's row buffers.
            bool staged = typeof(TS) != typeof(Float32Storage);
            float* sx = staged ? Scratch.Row(0, n) : null, sy = staged ? Scratch.Row(1, n) : null;
            for (int r = start; r < end; r++)
            {
                long o = (long)r * n;
                float* x = TS.Read(X, o, n, sx), y = TS.Target(Y, o, sy);
                // Two passes over a row that sits in L1: mean, then Σ(x − mean)² (no cancellation).
                var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                int i = 0;
                for (; i <= n - 32; i += 32)
                {
                    a0 += Vector256.Load(x + i); a1 += Vector256.Load(x + i + 8);
                    a2 += Vector256.Load(x + i + 16); a3 += Vector256.Load(x + i + 24);
                }
                for (; i <= n - 8; i += 8) a0 += Vector256.Load(x + i);
                if (i < n) a1 += VMath.LoadTail(x + i, n - i, 0f);
                float mu = Vector256.Sum((a0 + a1) + (a2 + a3)) / n;

                var m = Vector256.Create(mu);
                a0 = a1 = a2 = a3 = Vector256<float>.Zero;
                i = 0;
                for (; i <= n - 32; i += 32)
                {
                    var d0 = Vector256.Load(x + i) - m; var d1 = Vector256.Load(x + i + 8) - m;
                    var d2 = Vector256.Load(x + i + 16) - m; var d3 = Vector256.Load(x + i + 24) - m;
                    a0 = VMath.Fma(d0, d0, a0); a1 = VMath.Fma(d1, d1, a1);
                    a2 = VMath.Fma(d2, d2, a2); a3 = VMath.Fma(d3, d3, a3);
                }
                for (; i <= n - 8; i += 8) { var d = Vector256.Load(x + i) - m; a0 = VMath.Fma(d, d, a0); }
                if (i < n) { var d = VMath.LoadTail(x + i, n - i, mu) - m; a1 = VMath.Fma(d, d, a1); }
                float var = Vector256.Sum((a0 + a1) + (a2 + a3)) / n;
                float rs = 1f / MathF.Sqrt(var + Eps);
                Mean[r] = mu;
                Rstd[r] = rs;

                var s = Vector256.Create(rs);
                i = 0;
                for (; i <= n - 8; i += 8)
                    Vector256.Store(VMath.Fma((Vector256.Load(x + i) - m) * s, Vector256.Load(G + i), Vector256.Load(B + i)), y + i);
                for (; i < n; i++) y[i] = (x[i] - mu) * rs * G[i] + B[i];
                TS.Write(Y, o, n, sy);
            }
        }
    }

    /// <summary>dx is overwritten; dgamma and dbeta are accumulated. With g = dy·gamma and
    /// x̂ = (x − mean)·rstd: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dgamma += Σ dy·x̂, dbeta += Σ dy.</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> gamma, int rows, int cols,
        Span<T> dx, Span<float> dgamma, Span<float> dbeta) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        Check.Matrix(dy.Length, rows, cols, nameof(dy));
        Check.Matrix(x.Length, rows, cols, nameof(x));
        Check.Count(mean.Length, rows, nameof(mean), "rows");
        Check.Count(rstd.Length, rows, nameof(rstd), "rows");
        Check.Count(gamma.Length, cols, nameof(gamma), "columns");
        Check.Matrix(dx.Length, rows, cols, nameof(dx));
        Check.Count(dgamma.Length, cols, nameof(dgamma), "columns");
        Check.Count(dbeta.Length, cols, nameof(dbeta), "columns");
        if (rows == 0 || cols == 0) return;

        // Fixed row chunks (a function of the shape only): each writes its own partial dgamma/dbeta
        // rows into scratch, which are then summed in chunk order.
        int chunks = Math.Min(rows, MaxChunks);
        int chunkRows = (rows + chunks - 1) / chunks;
        chunks = (rows + chunkRows - 1) / chunkRows;
        float* part = Scratch.Floats((long)chunks * 2 * cols);
        fixed (T* pdy = dy, px = x, pdx = dx)
        fixed (float* pm = mean, pr = rstd, pg = gamma, pdg = dgamma, pdb = dbeta)
        {
            if (typeof(T) == typeof(float)) BackwardCore<Float32Storage>(pdy, px, pm, pr, pg, pdx, part, rows, cols, chunks, chunkRows);
            else BackwardCore<BFloat16Storage>(pdy, px, pm, pr, pg, pdx, part, rows, cols, chunks, chunkRows);
            var combine = new CombineBody { Part = part, Dg = pdg, Db = pdb, Chunks = chunks, Cols = cols };
            KernelLoop.For((cols + 7) / 8, Math.Max(1, 4096 / chunks), ref combine);
        }
    }

    private const int MaxChunks = 32;

    private static void BackwardCore<TS>(void* dy, void* x, float* mean, float* rstd, float* gamma, void* dx, float* part,
        int rows, int cols, int chunks, int chunkRows) where TS : IStorage
    {
        var body = new BackwardBody<TS>
        {
            Dy = dy, X = x, Mean = mean, Rstd = rstd, G = gamma, Dx = dx, Part = part,
            Rows = rows, Cols = cols, ChunkRows = chunkRows,
        };
        KernelLoop.For(chunks, Math.Max(1, 16384 / (chunkRows * cols)), ref body);
    }

    private struct BackwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* Dy, X, Dx;
        public float* Mean, Rstd, G, Part;
        public int Rows, Cols, ChunkRows;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            float invN = 1f / n;
            // As in the forward: bf16 rows (dy, x, dx) are staged as float32 in this thread's row buffers.
            bool staged = typeof(TS) != typeof(Float32Storage);
            float* sdy = staged ? Scratch.Row(0, n) : null, sx = staged ? Scratch.Row(1, n) : null, sdx = staged ? Scratch.Row(2, n) : null;
            for (int c = start; c < end; c++)
            {
                float* pg = Part + (long)c * 2 * n, pb = pg + n;
                new Span<float>(pg, 2 * n).Clear();
                int r1 = Math.Min(Rows, (c + 1) * ChunkRows);
                for (int r = c * ChunkRows; r < r1; r++)
                {
                    long o = (long)r * n;
                    float* dy = TS.Read(Dy, o, n, sdy), x = TS.Read(X, o, n, sx), dx = TS.Target(Dx, o, sdx);
                    var m = Vector256.Create(Mean[r]);
                    var s = Vector256.Create(Rstd[r]);
                    // Pass 1: Σg and Σg·x̂, and the parameter-gradient partials.
                    var s1 = Vector256<float>.Zero; var s2 = s1; var t1 = s1; var t2 = s1;
                    int i = 0;
                    for (; i <= n - 16; i += 16)
                    {
                        var d0 = Vector256.Load(dy + i); var d1 = Vector256.Load(dy + i + 8);
                        var h0 = (Vector256.Load(x + i) - m) * s; var h1 = (Vector256.Load(x + i + 8) - m) * s;
                        var g0 = d0 * Vector256.Load(G + i); var g1 = d1 * Vector256.Load(G + i + 8);
                        s1 += g0; t1 += g1;
                        s2 = VMath.Fma(g0, h0, s2); t2 = VMath.Fma(g1, h1, t2);
                        Vector256.Store(VMath.Fma(d0, h0, Vector256.Load(pg + i)), pg + i);
                        Vector256.Store(VMath.Fma(d1, h1, Vector256.Load(pg + i + 8)), pg + i + 8);
                        Vector256.Store(Vector256.Load(pb + i) + d0, pb + i);
                        Vector256.Store(Vector256.Load(pb + i + 8) + d1, pb + i + 8);
                    }
                    for (; i <= n - 8; i += 8)
                    {
                        var d0 = Vector256.Load(dy + i);
                        var h0 = (Vector256.Load(x + i) - m) * s;
                        var g0 = d0 * Vector256.Load(G + i);
                        s1 += g0; s2 = VMath.Fma(g0, h0, s2);
                        Vector256.Store(VMath.Fma(d0, h0, Vector256.Load(pg + i)), pg + i);
                        Vector256.Store(Vector256.Load(pb + i) + d0, pb + i);
                    }
                    float sum1 = Vector256.Sum(s1 + t1), sum2 = Vector256.Sum(s2 + t2);
                    float mu = Mean[r], rs = Rstd[r];
                    for (int j = i; j < n; j++)
                    {
                        float h = (x[j] - mu) * rs, g = dy[j] * G[j];
                        sum1 += g; sum2 += g * h;
                        pg[j] += dy[j] * h; pb[j] += dy[j];
                    }
                    float a = sum1 * invN, b = sum2 * invN;
                    // Pass 2: dx = rstd·(g − a − x̂·b).
                    var va = Vector256.Create(a); var vb = Vector256.Create(b);
                    i = 0;
                    for (; i <= n - 8; i += 8)
                    {
                        var h = (Vector256.Load(x + i) - m) * s;
                        var g = Vector256.Load(dy + i) * Vector256.Load(G + i);
                        Vector256.Store(s * (g - va - h * vb), dx + i);
                    }
                    for (; i < n; i++)
                    {
                        float h = (x[i] - mu) * rs;
                        dx[i] = rs * (dy[i] * G[i] - a - h * b);
                    }
                    TS.Write(Dx, o, n, sdx);
                }
            }
        }
    }

    private struct CombineBody : IRangeBody
    {
        public float* Part, Dg, Db;
        public int Chunks, Cols;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            int c0 = start * 8, c1 = Math.Min(n, end * 8);
            int j = c0;
            // Each column's partials are added in chunk order (vector lanes = columns), then added once.
            for (; j <= c1 - 8; j += 8)
            {
                var sg = Vector256<float>.Zero; var sb = sg;
                for (int c = 0; c < Chunks; c++)
                {
                    sg += Vector256.Load(Part + (long)c * 2 * n + j);
                    sb += Vector256.Load(Part + (long)c * 2 * n + n + j);
                }
                Vector256.Store(Vector256.Load(Dg + j) + sg, Dg + j);
                Vector256.Store(Vector256.Load(Db + j) + sb, Db + j);
            }
            for (; j < c1; j++)
            {
                float sg = 0f, sb = 0f;
                for (int c = 0; c < Chunks; c++)
                {
                    sg += Part[(long)c * 2 * n + j];
                    sb += Part[(long)c * 2 * n + n + j];
                }
                Dg[j] += sg;
                Db[j] += sb;
            }
        }
    }
}
