using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Fused log-softmax + cross-entropy over rows of logits as wide as a vocabulary, with an
/// ignore index. Forward reads each row once (blockwise online max/sum); backward reads it once more
/// and writes the gradient. Rows are split over threads. logits and dlogits are float32 (<c>float</c>) or bfloat16
/// (<c>ushort</c>, <see cref="BFloat16"/>'s bits, both of one call the same), computed in float32 (a bf16 block is
/// widened once into per-thread scratch; dlogits rounded once on store); losses and logSumExp are float32.</summary>
public static unsafe class CrossEntropy
{
    /// <summary>losses[r] = logsumexp(row) − row[target] (0 where target == ignoreIndex);
    /// logSumExp[r] receives logsumexp(row) for the backward; argmax (optional, may be empty) the
    /// index of each row's highest logit (the first one on ties).</summary>
    public static void Forward<T>(ReadOnlySpan<T> logits, int rows, int cols, ReadOnlySpan<int> targets, int ignoreIndex,
        Span<float> losses, Span<float> logSumExp, Span<int> argmax) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        CheckCommon(logits.Length, rows, cols, targets, ignoreIndex);
        Check.Count(losses.Length, rows, nameof(losses), "rows");
        Check.Count(logSumExp.Length, rows, nameof(logSumExp), "rows");
        if (!argmax.IsEmpty) Check.Count(argmax.Length, rows, nameof(argmax), "rows");
        if (rows == 0) return;
        fixed (T* pl = logits)
        fixed (float* ploss = losses, plse = logSumExp)
        fixed (int* pt = targets, pa = argmax)
        {
            int* arg = argmax.IsEmpty ? null : pa;
            if (typeof(T) == typeof(float)) ForwardCore<Float32Storage>(pl, rows, cols, pt, ignoreIndex, ploss, plse, arg);
            else ForwardCore<BFloat16Storage>(pl, rows, cols, pt, ignoreIndex, ploss, plse, arg);
        }
    }

    private static void ForwardCore<TS>(void* logits, int rows, int cols, int* targets, int ignoreIndex, float* losses,
        float* logSumExp, int* argmax) where TS : IStorage
    {
        var body = new ForwardBody<TS> { L = logits, Loss = losses, Lse = logSumExp, T = targets, Arg = argmax, Cols = cols, Ignore = ignoreIndex };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    /// <summary>dlogits[r] = scale·(softmax(row) − onehot(target)); zero rows for ignored targets.
    /// dlogits may alias logits.</summary>
    public static void Backward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets,
        int ignoreIndex, int rows, int cols, float scale, Span<T> dlogits) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        CheckCommon(logits.Length, rows, cols, targets, ignoreIndex);
        Check.Count(logSumExp.Length, rows, nameof(logSumExp), "rows");
        Check.Matrix(dlogits.Length, rows, cols, nameof(dlogits));
        if (rows == 0) return;
        fixed (T* pl = logits, pd = dlogits)
        fixed (float* plse = logSumExp)
        fixed (int* pt = targets)
        {
            if (typeof(T) == typeof(float)) BackwardCore<Float32Storage>(pl, plse, pt, ignoreIndex, rows, cols, scale, pd);
            else BackwardCore<BFloat16Storage>(pl, plse, pt, ignoreIndex, rows, cols, scale, pd);
        }
    }

    private static void BackwardCore<TS>(void* logits, float* logSumExp, int* targets, int ignoreIndex, int rows, int cols,
        float scale, void* dlogits) where TS : IStorage
    {
        var body = new BackwardBody<TS> { L = logits, Lse = logSumExp, T = targets, D = dlogits, Cols = cols, Ignore = ignoreIndex, Scale = scale };
        KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
    }

    private static void CheckCommon(int logitsLength, int rows, int cols, ReadOnlySpan<int> targets, int ignoreIndex)
    {
        Check.NonNegative(rows, nameof(rows));
        if (cols <= 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, $"cols must be positive, got {cols}");
        Check.Matrix(logitsLength, rows, cols, "logits");
        if (targets.Length < rows) throw new ArgumentException($"targets: need {rows} ints for {rows} rows, got {targets.Length}", nameof(targets));
        for (int r = 0; r < rows; r++)
        {
            int t = targets[r];
            if (t != ignoreIndex && (uint)t >= (uint)cols)
                throw new ArgumentException($"targets: target {t} at row {r} is outside [0, {cols}) and is not the ignore index {ignoreIndex}", nameof(targets));
        }
    }

    private const int Block = 2048; // 8 KB: the block is re-read from L1

    private struct ForwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* L;
        public float* Loss, Lse;
        public int* T, Arg;
        public int Cols, Ignore;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            // Float32 blocks are read in place; a bf16 block is widened once into this thread's row buffer.
            float* sx = typeof(TS) != typeof(Float32Storage) ? Scratch.Row(0, Math.Min(n, Block)) : null;
            void* L = this.L; // a local: the JIT need not reload it after each store
            for (int r = start; r < end; r++)
            {
                long o = (long)r * n;
                float max = float.NegativeInfinity;
                double sum = 0;
                int bestBlock = 0;
                for (int b0 = 0; b0 < n; b0 += Block)
                {
                    int w = Math.Min(Block, n - b0);
                    float* xb = TS.Read(L, o + b0, w, sx);
                    // Block max (NaN is caught by the exp sum below).
                    var m0 = Vector256.Create(float.NegativeInfinity); var m1 = m0;
                    int i = 0;
                    for (; i <= w - 16; i += 16) { m0 = VMath.MaxFast(m0, Vector256.Load(xb + i)); m1 = VMath.MaxFast(m1, Vector256.Load(xb + i + 8)); }
                    for (; i <= w - 8; i += 8) m0 = VMath.MaxFast(m0, Vector256.Load(xb + i));
                    if (i < w) m1 = VMath.MaxFast(m1, VMath.LoadTail(xb + i, w - i, float.NegativeInfinity));
                    float bmax = VMath.HMax(VMath.MaxFast(m0, m1));
                    if (bmax > max)
                    {
                        // Rescale the running sum to the new max (exp(-inf) = 0 covers the first block).
                        sum = max == float.NegativeInfinity ? 0 : sum * Math.Exp((double)max - bmax);
                        max = bmax;
                        bestBlock = b0;
                    }
                    // Σ exp(x − max) over the block, re-read from L1.
                    var mv = Vector256.Create(max);
                    var s0 = Vector256<float>.Zero; var s1 = s0;
                    i = 0;
                    for (; i <= w - 16; i += 16)
                    {
                        s0 += VMath.ExpNonPositive(Vector256.Load(xb + i) - mv);
                        s1 += VMath.ExpNonPositive(Vector256.Load(xb + i + 8) - mv);
                    }
                    for (; i <= w - 8; i += 8) s0 += VMath.ExpNonPositive(Vector256.Load(xb + i) - mv);
                    if (i < w) s1 += VMath.ExpNonPositive(VMath.LoadTail(xb + i, w - i, float.NegativeInfinity) - mv);
                    sum += Vector256.Sum(s0 + s1);
                }
                float lse = (float)(max + Math.Log(sum));
                Lse[r] = lse;
                int t = T[r];
                Loss[r] = t == Ignore ? 0f : lse - TS.Get(L, o + t);
                if (Arg != null)
                {
                    // First index holding the max, searched in the block where the max first appeared.
                    int best = bestBlock, e = Math.Min(n, bestBlock + Block);
                    for (int j = bestBlock; j < e; j++) { if (TS.Get(L, o + j) == max) { best = j; break; } }
                    Arg[r] = best;
                }
            }
        }
    }

    // Element-wise, so 8 elements at a time in registers (IStorage.Load/Store): no staging needed.
    private struct BackwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* L, D;
        public float* Lse;
        public int* T;
        public int Cols, Ignore;
        public float Scale;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            void* L = this.L, D = this.D; // locals: the JIT need not reload them after each store
            for (int r = start; r < end; r++)
            {
                long o = (long)r * n;
                int t = T[r];
                if (t == Ignore)
                {
                    int size = TS.Type == DType.Float32 ? sizeof(float) : sizeof(ushort);
                    new Span<byte>((byte*)D + o * size, n * size).Clear();
                    continue;
                }
                var lse = Vector256.Create(Lse[r]);
                var sc = Vector256.Create(Scale);
                float xt = TS.Get(L, o + t); // read before an aliased write overwrites it
                long i = o, e = o + n;
                for (; i <= e - 16; i += 16)
                {
                    TS.Store(D, i, sc * VMath.ExpNonPositive(TS.Load(L, i) - lse));
                    TS.Store(D, i + 8, sc * VMath.ExpNonPositive(TS.Load(L, i + 8) - lse));
                }
                for (; i <= e - 8; i += 8) TS.Store(D, i, sc * VMath.ExpNonPositive(TS.Load(L, i) - lse));
                if (i < e) TS.StoreTail(D, i, (int)(e - i), sc * VMath.ExpNonPositive(TS.LoadTail(L, i, (int)(e - i), 0f) - lse));
                // softmax(x)[t] − 1, from the saved logit (exact same value as the vector path computes).
                var pt = VMath.ExpNonPositive(Vector256.Create(xt) - lse);
                TS.Set(D, o + t, Scale * (pt.ToScalar() - 1f));
            }
        }
    }
}
