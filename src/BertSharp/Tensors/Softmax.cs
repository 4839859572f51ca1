using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Row softmax with a scale and an additive per-batch mask (attention probabilities), and its
/// gradient. Rows are independent and split over threads. x, y, dy and dx are float32 (<c>float</c>) or bfloat16
/// (<c>ushort</c>, <see cref="BFloat16"/>'s bits, all of one call the same): a bf16 row is widened once into per-thread
/// scratch, computed in float32 and rounded once on store; the mask is float32.</summary>
public static unsafe class Softmax
{
    /// <summary>y = softmax(scale·x + mask[b, :]) over each row of <paramref name="cols"/>; rows are
    /// batch × rowsPerBatch; mask is batch × cols or empty. y may alias x.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, int batch, int rowsPerBatch, int cols,
        float scale, ReadOnlySpan<float> mask) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        Check.NonNegative(batch, nameof(batch));
        Check.NonNegative(rowsPerBatch, nameof(rowsPerBatch));
        Check.NonNegative(cols, nameof(cols));
        long total = (long)batch * rowsPerBatch * cols;
        Check.Tensor3(x.Length, batch, rowsPerBatch, cols, nameof(x));
        Check.Tensor3(y.Length, batch, rowsPerBatch, cols, nameof(y));
        if (!mask.IsEmpty) Check.Matrix(mask.Length, batch, cols, nameof(mask));
        if (total == 0) return;
        int rows = batch * rowsPerBatch;
        fixed (T* px = x, py = y)
        fixed (float* pm = mask)
        {
            float* m = mask.IsEmpty ? null : pm;
            if (typeof(T) == typeof(float)) ForwardCore<Float32Storage>(px, py, m, rows, rowsPerBatch, cols, scale);
            else ForwardCore<BFloat16Storage>(px, py, m, rows, rowsPerBatch, cols, scale);
        }
    }

    private static void ForwardCore<TS>(void* x, void* y, float* mask, int rows, int rowsPerBatch, int cols, float scale)
        where TS : IStorage
    {
        var body = new ForwardBody<TS> { X = x, Y = y, Mask = mask, RowsPerBatch = rowsPerBatch, Cols = cols, Scale = scale };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    private struct ForwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* X, Y;
        public float* Mask;
        public int RowsPerBatch, Cols;
        public float Scale;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            // Float32 rows are used in place; a bf16 row is staged in this thread's row buffers (x read whole before
            // y is stored, so y may alias x in either type).
            bool staged = typeof(TS) != typeof(Float32Storage);
            float* sx = staged ? Scratch.Row(0, n) : null, sy = staged ? Scratch.Row(1, n) : null;
            var sc = Vector256.Create(Scale);
            // The mask row follows the batch index, tracked without a division per row.
            int b = start / RowsPerBatch, within = start - b * RowsPerBatch;
            for (int r = start; r < end; r++, within++)
            {
                if (within == RowsPerBatch) { b++; within = 0; }
                long o = (long)r * n;
                float* x = TS.Read(X, o, n, sx), y = TS.Target(Y, o, sy);
                float* mk = Mask == null ? null : Mask + (long)b * n;
                // Pass 1: max of z = scale·x + mask, in registers (the row then sits in L1).
                var mx0 = Vector256.Create(float.NegativeInfinity); var mx1 = mx0;
                int i = 0;
                for (; i <= n - 16; i += 16)
                {
                    var z0 = Vector256.Load(x + i) * sc; var z1 = Vector256.Load(x + i + 8) * sc;
                    if (mk != null) { z0 += Vector256.Load(mk + i); z1 += Vector256.Load(mk + i + 8); }
                    mx0 = VMath.MaxFast(mx0, z0); mx1 = VMath.MaxFast(mx1, z1);
                }
                for (; i <= n - 8; i += 8)
                {
                    var z = Vector256.Load(x + i) * sc;
                    if (mk != null) z += Vector256.Load(mk + i);
                    mx0 = VMath.MaxFast(mx0, z);
                }
                int tail = n - i;
                if (tail > 0)
                {
                    var z = VMath.LoadTail(x + i, tail, 0f) * sc;
                    if (mk != null) z += VMath.LoadTail(mk + i, tail, 0f);
                    var zt = Vector256.Create(float.NegativeInfinity);
                    float* zp = (float*)&z, ztp = (float*)&zt;
                    for (int k = 0; k < tail; k++) ztp[k] = zp[k];
                    mx1 = VMath.MaxFast(mx1, zt);
                }
                var m = Vector256.Create(VMath.HMax(VMath.MaxFast(mx0, mx1)));
                // Pass 2: e = exp(z − max) into y and Σe (a NaN anywhere makes Σe NaN, so the row is NaN).
                // Reading x after writing y[i] is safe when y aliases x: each element is read before written.
                var s0 = Vector256<float>.Zero; var s1 = s0;
                i = 0;
                for (; i <= n - 16; i += 16)
                {
                    var z0 = Vector256.Load(x + i) * sc; var z1 = Vector256.Load(x + i + 8) * sc;
                    if (mk != null) { z0 += Vector256.Load(mk + i); z1 += Vector256.Load(mk + i + 8); }
                    var e0 = VMath.ExpNonPositive(z0 - m); var e1 = VMath.ExpNonPositive(z1 - m);
                    Vector256.Store(e0, y + i); Vector256.Store(e1, y + i + 8);
                    s0 += e0; s1 += e1;
                }
                for (; i <= n - 8; i += 8)
                {
                    var z = Vector256.Load(x + i) * sc;
                    if (mk != null) z += Vector256.Load(mk + i);
                    var e0 = VMath.ExpNonPositive(z - m);
                    Vector256.Store(e0, y + i);
                    s0 += e0;
                }
                if (tail > 0)
                {
                    var z = VMath.LoadTail(x + i, tail, 0f) * sc;
                    if (mk != null) z += VMath.LoadTail(mk + i, tail, 0f);
                    var e0 = VMath.ExpNonPositive(z - m);
                    VMath.StoreTail(y + i, tail, e0);
                    e0 = VMath.LoadTail(y + i, tail, 0f); // only the real lanes join the sum
                    s1 += e0;
                }
                var inv = Vector256.Create(1f / Vector256.Sum(s0 + s1));
                i = 0;
                for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(y + i) * inv, y + i);
                for (; i < n; i++) y[i] *= inv[0];
                TS.Write(Y, o, n, sy);
            }
        }
    }

    /// <summary>dx = scale·y ⊙ (dy − Σ dy⊙y) per row. dx may alias dy.</summary>
    public static void Backward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int rows, int cols, float scale)
        where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        Check.NonNegative(rows, nameof(rows));
        Check.NonNegative(cols, nameof(cols));
        long total = (long)rows * cols;
        Check.Matrix(y.Length, rows, cols, nameof(y));
        Check.Matrix(dy.Length, rows, cols, nameof(dy));
        Check.Matrix(dx.Length, rows, cols, nameof(dx));
        if (total == 0) return;
        fixed (T* py = y, pdy = dy, pdx = dx)
        {
            if (typeof(T) == typeof(float)) BackwardCore<Float32Storage>(py, pdy, pdx, rows, cols, scale);
            else BackwardCore<BFloat16Storage>(py, pdy, pdx, rows, cols, scale);
        }
    }

    private static void BackwardCore<TS>(void* y, void* dy, void* dx, int rows, int cols, float scale) where TS : IStorage
    {
        var body = new BackwardBody<TS> { Y = y, Dy = dy, Dx = dx, Cols = cols, Scale = scale };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    private struct BackwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* Y, Dy, Dx;
        public int Cols;
        public float Scale;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            // bf16 rows staged as in the forward (dy read whole before dx is stored: dx may alias dy).
            bool staged = typeof(TS) != typeof(Float32Storage);
            float* sy = staged ? Scratch.Row(0, n) : null, sdy = staged ? Scratch.Row(1, n) : null, sdx = staged ? Scratch.Row(2, n) : null;
            var sc = Vector256.Create(Scale);
            for (int r = start; r < end; r++)
            {
                long o = (long)r * n;
                float* y = TS.Read(Y, o, n, sy), dy = TS.Read(Dy, o, n, sdy), dx = TS.Target(Dx, o, sdx);
                var a0 = Vector256<float>.Zero; var a1 = a0;
                int i = 0;
                for (; i <= n - 16; i += 16)
                {
                    a0 = VMath.Fma(Vector256.Load(y + i), Vector256.Load(dy + i), a0);
                    a1 = VMath.Fma(Vector256.Load(y + i + 8), Vector256.Load(dy + i + 8), a1);
                }
                for (; i <= n - 8; i += 8) a0 = VMath.Fma(Vector256.Load(y + i), Vector256.Load(dy + i), a0);
                float dot = Vector256.Sum(a0 + a1);
                for (int j = i; j < n; j++) dot += y[j] * dy[j];
                var d = Vector256.Create(dot);
                i = 0;
                for (; i <= n - 8; i += 8)
                    Vector256.Store(sc * Vector256.Load(y + i) * (Vector256.Load(dy + i) - d), dx + i);
                for (; i < n; i++) dx[i] = Scale * y[i] * (dy[i] - dot);
                TS.Write(Dx, o, n, sdx);
            }
        }
    }
}
