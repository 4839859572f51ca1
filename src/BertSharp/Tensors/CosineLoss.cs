using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>
/// The cosine loss on hidden states of distillation (DistilBERT): per row, losses[r] = weights[r]·(1 − cos(a_r, b_r)),
/// cos = a·b / max(‖a‖‖b‖, 1e-8) (PyTorch's CosineEmbeddingLoss with target 1), with a the student's and b the
/// teacher's hidden states, and its gradient with respect to a (b is a constant). Rows are independent and split over
/// threads; each row's three sums run in a fixed order (float32 within blocks of 512, double across them, the scalars in
/// double), so results are bitwise identical for any thread count. a, b
/// and da are float32 (<c>float</c>) or bfloat16 (<c>ushort</c>, <see cref="BFloat16"/>'s bits, all of one call the
/// same): a bf16 row is widened once into per-thread scratch, computed in float32 and rounded once on store; weights
/// and losses are float32.
/// </summary>
public static unsafe class CosineLoss
{
    /// <summary>The floor of ‖a‖‖b‖ (PyTorch's cosine_similarity eps).</summary>
    public const double Eps = 1e-8;

    /// <summary>losses[r] = weights[r]·(1 − cos(a_r, b_r)); 0 where weights[r] == 0 (the row is not read).
    /// Overwritten.</summary>
    public static void Forward<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<float> weights, int rows, int cols,
        Span<float> losses) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        CheckCommon(a.Length, b.Length, weights.Length, rows, cols);
        Check.Count(losses.Length, rows, nameof(losses), "rows");
        if (rows == 0) return;
        fixed (T* pa = a, pb = b)
        fixed (float* pw = weights, pl = losses)
        {
            if (typeof(T) == typeof(float)) ForwardCore<Float32Storage>(pa, pb, pw, rows, cols, pl);
            else ForwardCore<BFloat16Storage>(pa, pb, pw, rows, cols, pl);
        }
    }

    private static void ForwardCore<TS>(void* a, void* b, float* weights, int rows, int cols, float* losses) where TS : IStorage
    {
        var body = new ForwardBody<TS> { A = a, B = b, W = weights, Loss = losses, Cols = cols };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    /// <summary>da[r] = scale·d(losses[r])/d(a_r) = scale·weights[r]·(cos·a/‖a‖² − b/‖a‖‖b‖) (where ‖a‖‖b‖ ≥ 1e-8; below,
    /// the floor is a constant: −scale·weights[r]·b/1e-8); zero rows where weights[r] == 0. <paramref name="accumulate"/>:
    /// da += instead of = (in float32, rounded once on a bf16 store).</summary>
    public static void Backward<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<float> weights, int rows, int cols, float scale,
        Span<T> da, bool accumulate) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        CheckCommon(a.Length, b.Length, weights.Length, rows, cols);
        Check.Matrix(da.Length, rows, cols, nameof(da));
        if (rows == 0) return;
        fixed (T* pa = a, pb = b, pd = da)
        fixed (float* pw = weights)
        {
            if (typeof(T) == typeof(float)) BackwardCore<Float32Storage>(pa, pb, pw, rows, cols, scale, pd, accumulate);
            else BackwardCore<BFloat16Storage>(pa, pb, pw, rows, cols, scale, pd, accumulate);
        }
    }

    private static void BackwardCore<TS>(void* a, void* b, float* weights, int rows, int cols, float scale, void* da, bool accumulate)
        where TS : IStorage
    {
        var body = new BackwardBody<TS> { A = a, B = b, W = weights, Da = da, Cols = cols, Scale = scale, Accumulate = accumulate };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    private static void CheckCommon(int aLength, int bLength, int weightsLength, int rows, int cols)
    {
        Check.NonNegative(rows, nameof(rows));
        if (cols <= 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, $"cols must be positive, got {cols}");
        Check.Matrix(aLength, rows, cols, "a");
        Check.Matrix(bLength, rows, cols, "b");
        Check.Count(weightsLength, rows, "weights", "rows");
    }

    private const int SumBlock = 512;

    // a·b, ‖a‖², ‖b‖² of one row: 8 lanes × 2 float32 accumulators each over blocks of 512 elements (the tail padded with
    // zeros), each block's sums added in double. 1 − cos cancels when the student is near the teacher, so the sums are
    // kept accurate: a float32 sum of a whole vocabulary-wide row would be off by ~1e-5 relative.
    private static void Sums(float* x, float* y, int n, out double dot, out double xx, out double yy)
    {
        dot = xx = yy = 0;
        for (int b0 = 0; b0 < n; b0 += SumBlock)
        {
            int w = Math.Min(SumBlock, n - b0);
            float* xb = x + b0, yb = y + b0;
            var d0 = Vector256<float>.Zero; var d1 = d0; var p0 = d0; var p1 = d0; var q0 = d0; var q1 = d0;
            int i = 0;
            for (; i <= w - 16; i += 16)
            {
                var x0 = Vector256.Load(xb + i); var x1 = Vector256.Load(xb + i + 8);
                var y0 = Vector256.Load(yb + i); var y1 = Vector256.Load(yb + i + 8);
                d0 = VMath.Fma(x0, y0, d0); d1 = VMath.Fma(x1, y1, d1);
                p0 = VMath.Fma(x0, x0, p0); p1 = VMath.Fma(x1, x1, p1);
                q0 = VMath.Fma(y0, y0, q0); q1 = VMath.Fma(y1, y1, q1);
            }
            for (; i <= w - 8; i += 8)
            {
                var x0 = Vector256.Load(xb + i); var y0 = Vector256.Load(yb + i);
                d0 = VMath.Fma(x0, y0, d0); p0 = VMath.Fma(x0, x0, p0); q0 = VMath.Fma(y0, y0, q0);
            }
            if (i < w)
            {
                var x1 = VMath.LoadTail(xb + i, w - i, 0f); var y1 = VMath.LoadTail(yb + i, w - i, 0f);
                d1 = VMath.Fma(x1, y1, d1); p1 = VMath.Fma(x1, x1, p1); q1 = VMath.Fma(y1, y1, q1);
            }
            dot += Vector256.Sum(d0 + d1);
            xx += Vector256.Sum(p0 + p1);
            yy += Vector256.Sum(q0 + q1);
        }
    }

    private struct ForwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* A, B;
        public float* W, Loss;
        public int Cols;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            // Float32 rows are read in place; bf16 rows are widened once into this thread's row buffers.
            bool staged = typeof(TS) != typeof(Float32Storage);
            float* sa = staged ? Scratch.Row(0, n) : null, sb = staged ? Scratch.Row(1, n) : null;
            for (int r = start; r < end; r++)
            {
                float w = W[r];
                if (w == 0f) { Loss[r] = 0f; continue; }
                long o = (long)r * n;
                Sums(TS.Read(A, o, n, sa), TS.Read(B, o, n, sb), n, out double dot, out double aa, out double bb);
                double cos = dot / Math.Max(Math.Sqrt(aa) * Math.Sqrt(bb), Eps); // a NaN norm stays NaN
                Loss[r] = (float)(w * (1 - cos));
            }
        }
    }

    private struct BackwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* A, B, Da;
        public float* W;
        public int Cols;
        public float Scale;
        public bool Accumulate;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            bool staged = typeof(TS) != typeof(Float32Storage);
            float* sa = staged ? Scratch.Row(0, n) : null, sb = staged ? Scratch.Row(1, n) : null, sd = staged ? Scratch.Row(2, n) : null;
            int size = TS.Type == DType.Float32 ? sizeof(float) : sizeof(ushort);
            for (int r = start; r < end; r++)
            {
                long o = (long)r * n;
                float w = W[r];
                if (w == 0f)
                {
                    if (!Accumulate) new Span<byte>((byte*)Da + o * size, n * size).Clear();
                    continue;
                }
                float* x = TS.Read(A, o, n, sa), y = TS.Read(B, o, n, sb);
                float* d = Accumulate ? TS.Read(Da, o, n, sd) : TS.Target(Da, o, sd);
                Sums(x, y, n, out double dot, out double aa, out double bb);
                double norms = Math.Sqrt(aa) * Math.Sqrt(bb);
                double denom = Math.Max(norms, Eps), cos = dot / denom;
                // d(1 − cos)/da = cos·a/‖a‖² − b/denom; the a term only where the floor is not taken (NaN: not taken,
                // and the NaN reaches every element through denom).
                double sw = (double)Scale * w;
                var k1 = Vector256.Create((float)(-sw / denom));
                var k2 = Vector256.Create(norms >= Eps ? (float)(sw * cos / aa) : 0f);
                int i = 0;
                for (; i <= n - 8; i += 8)
                {
                    var g = VMath.Fma(k1, Vector256.Load(y + i), k2 * Vector256.Load(x + i));
                    Vector256.Store(Accumulate ? Vector256.Load(d + i) + g : g, d + i);
                }
                if (i < n)
                {
                    int k = n - i;
                    var g = VMath.Fma(k1, VMath.LoadTail(y + i, k, 0f), k2 * VMath.LoadTail(x + i, k, 0f));
                    VMath.StoreTail(d + i, k, Accumulate ? VMath.LoadTail(d + i, k, 0f) + g : g);
                }
                TS.Write(Da, o, n, sd);
            }
        }
    }
}
