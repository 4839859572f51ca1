using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Fused log-softmax + cross-entropy over rows of logits as wide as a vocabulary, with an
/// ignore index. Forward reads each row once (blockwise online max/sum); backward reads it once more
/// and writes the gradient. Rows are split over threads.</summary>
public static unsafe class CrossEntropy
{
    /// <summary>losses[r] = logsumexp(row) − row[target] (0 where target == ignoreIndex);
    /// logSumExp[r] receives logsumexp(row) for the backward; argmax (optional, may be empty) the
    /// index of each row's highest logit (the first one on ties).</summary>
    public static void Forward(ReadOnlySpan<float> logits, int rows, int cols, ReadOnlySpan<int> targets, int ignoreIndex,
        Span<float> losses, Span<float> logSumExp, Span<int> argmax)
    {
        CheckCommon(logits.Length, rows, cols, targets, ignoreIndex);
        Check.Count(losses.Length, rows, nameof(losses), "rows");
        Check.Count(logSumExp.Length, rows, nameof(logSumExp), "rows");
        if (!argmax.IsEmpty) Check.Count(argmax.Length, rows, nameof(argmax), "rows");
        if (rows == 0) return;
        fixed (float* pl = logits, ploss = losses, plse = logSumExp)
        fixed (int* pt = targets, pa = argmax)
        {
            var body = new ForwardBody
            {
                L = pl, Loss = ploss, Lse = plse, T = pt, Arg = argmax.IsEmpty ? null : pa,
                Cols = cols, Ignore = ignoreIndex,
            };
            KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
        }
    }

    /// <summary>dlogits[r] = scale·(softmax(row) − onehot(target)); zero rows for ignored targets.
    /// dlogits may alias logits.</summary>
    public static void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets,
        int ignoreIndex, int rows, int cols, float scale, Span<float> dlogits)
    {
        CheckCommon(logits.Length, rows, cols, targets, ignoreIndex);
        Check.Count(logSumExp.Length, rows, nameof(logSumExp), "rows");
        Check.Matrix(dlogits.Length, rows, cols, nameof(dlogits));
        if (rows == 0) return;
        fixed (float* pl = logits, plse = logSumExp, pd = dlogits)
        fixed (int* pt = targets)
        {
            var body = new BackwardBody { L = pl, Lse = plse, T = pt, D = pd, Cols = cols, Ignore = ignoreIndex, Scale = scale };
            KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
        }
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

    private struct ForwardBody : IRangeBody
    {
        public float* L, Loss, Lse;
        public int* T, Arg;
        public int Cols, Ignore;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            for (int r = start; r < end; r++)
            {
                float* x = L + (long)r * n;
                float max = float.NegativeInfinity;
                double sum = 0;
                int bestBlock = 0;
                for (int b0 = 0; b0 < n; b0 += Block)
                {
                    int w = Math.Min(Block, n - b0);
                    float* xb = x + b0;
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
                Loss[r] = t == Ignore ? 0f : lse - x[t];
                if (Arg != null)
                {
                    // First index holding the max, searched in the block where the max first appeared.
                    int best = bestBlock, e = Math.Min(n, bestBlock + Block);
                    for (int j = bestBlock; j < e; j++) { if (x[j] == max) { best = j; break; } }
                    Arg[r] = best;
                }
            }
        }
    }

    private struct BackwardBody : IRangeBody
    {
        public float* L, Lse, D;
        public int* T;
        public int Cols, Ignore;
        public float Scale;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            for (int r = start; r < end; r++)
            {
                float* x = L + (long)r * n, d = D + (long)r * n;
                int t = T[r];
                if (t == Ignore)
                {
                    new Span<float>(d, n).Clear();
                    continue;
                }
                var lse = Vector256.Create(Lse[r]);
                var sc = Vector256.Create(Scale);
                float xt = x[t]; // read before an aliased write overwrites it
                int i = 0;
                for (; i <= n - 16; i += 16)
                {
                    Vector256.Store(sc * VMath.ExpNonPositive(Vector256.Load(x + i) - lse), d + i);
                    Vector256.Store(sc * VMath.ExpNonPositive(Vector256.Load(x + i + 8) - lse), d + i + 8);
                }
                for (; i <= n - 8; i += 8) Vector256.Store(sc * VMath.ExpNonPositive(Vector256.Load(x + i) - lse), d + i);
                if (i < n) VMath.StoreTail(d + i, n - i, sc * VMath.ExpNonPositive(VMath.LoadTail(x + i, n - i, 0f) - lse));
                // softmax(x)[t] − 1, from the saved logit (exact same value as the vector path computes).
                var pt = VMath.ExpNonPositive(Vector256.Create(xt) - lse);
                d[t] = Scale * (pt.ToScalar() - 1f);
            }
        }
    }
}
