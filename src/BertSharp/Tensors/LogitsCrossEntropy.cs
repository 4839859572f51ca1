using System.Numerics.Tensors;
using BertSharp.Tensors;

namespace BertSharp.Tensors;

/// <summary>
/// The MLM output layer's bias, softmax cross-entropy and their backward fused into one pass each over the
/// [B·P, V] logits (V = 30,522: 78 MB at batch 32 × 20 predictions). Separately (bias add, cross-entropy,
/// cross-entropy backward, bias backward) the logits cross memory six times; fused, four. Rows run in parallel;
/// the bias gradient is summed in fixed row chunks combined in chunk order, so results do not depend on the
/// thread count.
/// <para>The logits (and the gradient written over them) are float32 (<c>float</c>) or bfloat16 (<c>ushort</c>,
/// <see cref="BFloat16"/>'s bits): a bf16 row is widened once into per-thread scratch, computed in float32 and rounded
/// once on store. The losses, log-sum-exp and bias gradient come from the float32 values before that rounding.</para>
/// </summary>
internal static unsafe class LogitsCrossEntropy
{
    private const int RowChunk = 16;

    /// <summary>Floats of scratch <see cref="Backward"/> needs for the bias-gradient partials.</summary>
    public static long PartialsLength(int rows, int cols) => (long)((rows + RowChunk - 1) / RowChunk) * cols;

    /// <summary>logits += bias (in place, row-wise); losses[r] = logsumexp(row) − row[target] (0 when ignored).</summary>
    public static void Forward<T>(Span<T> logits, ReadOnlySpan<float> bias, int rows, int cols, ReadOnlySpan<int> targets,
        int ignoreIndex, Span<float> losses, Span<float> logSumExp, Span<int> argmax) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        Check(logits.Length, rows, cols, bias.Length, targets.Length, losses.Length, logSumExp.Length, argmax.Length);
        for (int r = 0; r < rows; r++)
            if (targets[r] != ignoreIndex && (uint)targets[r] >= (uint)cols)
                throw new ArgumentException($"targets[{r}] = {targets[r]} is outside [0, {cols})");
        fixed (T* pl = logits)
        fixed (float* pb = bias, ploss = losses, plse = logSumExp)
        fixed (int* pt = targets, pa = argmax)
        {
            if (typeof(T) == typeof(float)) ForwardCore<Float32Storage>(pl, pb, rows, cols, pt, ignoreIndex, ploss, plse, pa);
            else ForwardCore<BFloat16Storage>(pl, pb, rows, cols, pt, ignoreIndex, ploss, plse, pa);
        }
    }

    private static void ForwardCore<TS>(void* logits, float* bias, int rows, int cols, int* targets, int ignoreIndex,
        float* losses, float* logSumExp, int* argmax) where TS : IStorage
    {
        var body = new ForwardBody<TS> { L = logits, B = bias, Loss = losses, Lse = logSumExp, T = targets, A = argmax, Cols = cols, Ignore = ignoreIndex };
        KernelParallel.For(rows, 1, ref body);
    }

    private struct ForwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* L;
        public float* B, Loss, Lse;
        public int* T, A;
        public int Cols, Ignore;

        public void Invoke(int start, int end)
        {
            var bias = new ReadOnlySpan<float>(B, Cols);
            Span<float> tmp = stackalloc float[1024];
            // A float32 row is updated in place; a bf16 row is widened into this thread's row buffer, z = logits + bias
            // computed there, the statistics taken from it and z stored (rounded) at the end.
            float* sx = typeof(TS) != typeof(Float32Storage) ? Scratch.Row(0, Cols) : null;
            for (int r = start; r < end; r++)
            {
                long o = (long)r * Cols;
                float* x = TS.Read(L, o, Cols, sx);
                var row = new Span<float>(TS.Target(L, o, sx), Cols);
                TensorPrimitives.Add(new ReadOnlySpan<float>(x, Cols), bias, row);
                int am = TensorPrimitives.IndexOfMax(row);
                float max = row[am];
                // Σ exp(z − max) in double over float chunks, without a temporary row.
                double sum = 0;
                for (int i = 0; i < Cols; i += 1024)
                {
                    var part = row.Slice(i, Math.Min(1024, Cols - i));
                    var t = tmp[..part.Length];
                    TensorPrimitives.Subtract(part, max, t);
                    TensorPrimitives.Exp(t, t);
                    sum += TensorPrimitives.Sum<float>(t);
                }
                float lse = max + (float)Math.Log(sum);
                Lse[r] = lse;
                A[r] = am;
                int target = T[r];
                Loss[r] = target == Ignore ? 0f : lse - row[target];
                TS.Write(L, o, Cols, sx);
            }
        }
    }

    /// <summary>In place: logits (holding logits + bias from <see cref="Forward"/>) become
    /// scale·(softmax − onehot(target)), zero rows for ignored targets; dbias += the column sums.</summary>
    public static void Backward<T>(Span<T> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets, int ignoreIndex,
        int rows, int cols, float scale, Span<float> dbias, Span<float> partials) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(ushort)) throw Storage.Unsupported<T>();
        Check(logits.Length, rows, cols, dbias.Length, targets.Length, rows, logSumExp.Length, rows);
        int chunks = (rows + RowChunk - 1) / RowChunk;
        if (partials.Length < PartialsLength(rows, cols))
            throw new ArgumentException($"partials: need {PartialsLength(rows, cols)} floats, got {partials.Length}");
        fixed (T* pl = logits)
        fixed (float* plse = logSumExp, pp = partials)
        fixed (int* pt = targets)
        {
            if (typeof(T) == typeof(float)) BackwardCore<Float32Storage>(pl, plse, pt, ignoreIndex, rows, cols, scale, pp, chunks);
            else BackwardCore<BFloat16Storage>(pl, plse, pt, ignoreIndex, rows, cols, scale, pp, chunks);
            // Combine the chunk partials in chunk order.
            for (int c = 0; c < chunks; c++)
                TensorPrimitives.Add(dbias[..cols], new ReadOnlySpan<float>(pp + (long)c * cols, cols), dbias[..cols]);
        }
    }

    private static void BackwardCore<TS>(void* logits, float* logSumExp, int* targets, int ignoreIndex, int rows, int cols,
        float scale, float* partials, int chunks) where TS : IStorage
    {
        var body = new BackwardBody<TS> { L = logits, Lse = logSumExp, T = targets, P = partials, Cols = cols, Rows = rows, Ignore = ignoreIndex, Scale = scale };
        KernelParallel.For(chunks, 1, ref body);
    }

    private struct BackwardBody<TS> : IRangeBody where TS : IStorage
    {
        public void* L;
        public float* Lse, P;
        public int* T;
        public int Cols, Rows, Ignore;
        public float Scale;

        public void Invoke(int start, int end)
        {
            // As in the forward: a bf16 row is computed in float32 in the row buffer (the bias partials sum those
            // float32 values), then stored rounded.
            float* sx = typeof(TS) != typeof(Float32Storage) ? Scratch.Row(0, Cols) : null;
            for (int c = start; c < end; c++)
            {
                var partial = new Span<float>(P + (long)c * Cols, Cols);
                partial.Clear();
                int r1 = Math.Min(Rows, (c + 1) * RowChunk);
                for (int r = c * RowChunk; r < r1; r++)
                {
                    long o = (long)r * Cols;
                    int target = T[r];
                    if (target == Ignore)
                    {
                        int size = TS.Type == DType.Float32 ? sizeof(float) : sizeof(ushort);
                        new Span<byte>((byte*)L + o * size, Cols * size).Clear();
                        continue;
                    }
                    float* x = TS.Read(L, o, Cols, sx);
                    var row = new Span<float>(TS.Target(L, o, sx), Cols);
                    TensorPrimitives.Subtract(new ReadOnlySpan<float>(x, Cols), Lse[r], row);
                    TensorPrimitives.Exp(row, row);
                    TensorPrimitives.Multiply(row, Scale, row);
                    row[target] -= Scale;
                    TensorPrimitives.Add(partial, row, partial);
                    TS.Write(L, o, Cols, sx);
                }
            }
        }
    }

    private static void Check(int logits, int rows, int cols, int bias, int targets, int losses, int lse, int argmax)
    {
        if (rows < 0 || cols <= 0) throw new ArgumentException($"logits cross-entropy: bad shape {rows}x{cols}");
        if (logits < (long)rows * cols) throw new ArgumentException($"logits: need {(long)rows * cols} floats for {rows}x{cols}, got {logits}");
        if (bias < cols) throw new ArgumentException($"bias: need {cols} floats, got {bias}");
        if (targets < rows || losses < rows || lse < rows || argmax < rows)
            throw new ArgumentException($"logits cross-entropy: per-row buffers need {rows} entries");
    }
}
