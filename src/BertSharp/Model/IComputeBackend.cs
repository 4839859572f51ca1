using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The operations the layers need, one method per kernel of <c>Tensors/README.md</c> plus the two head
/// permutations attention needs. Layers only talk to this interface, so a GPU backend can be added by
/// implementing it (with its own buffer type behind the spans) without touching the layers.
/// </summary>
public interface IComputeBackend
{
    string Name { get; }

    void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc);
    void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batchCount);
    void BiasAdd(Span<float> y, int rows, int cols, ReadOnlySpan<float> bias);
    void BiasBackward(ReadOnlySpan<float> dy, int rows, int cols, Span<float> dbias);
    void Gelu(ReadOnlySpan<float> x, Span<float> y, bool tanhApproximation);
    void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, bool tanhApproximation);
    void Tanh(ReadOnlySpan<float> x, Span<float> y);
    void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx);
    void LayerNormForward(ReadOnlySpan<float> x, int rows, int cols, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        float eps, Span<float> y, Span<float> mean, Span<float> rstd);
    void LayerNormBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> gamma, int rows, int cols, Span<float> dx, Span<float> dgamma, Span<float> dbeta);
    void SoftmaxForward(ReadOnlySpan<float> x, Span<float> y, int batch, int rowsPerBatch, int cols, float scale, ReadOnlySpan<float> mask);
    void SoftmaxBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols, float scale);
    void DropoutForward(ReadOnlySpan<float> x, Span<float> y, float p, ulong seed, ulong step, uint site);
    void DropoutBackward(ReadOnlySpan<float> dy, Span<float> dx, float p, ulong seed, ulong step, uint site);
    void EmbeddingForward(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim, Span<float> output, bool accumulate);
    void EmbeddingBackward(ReadOnlySpan<int> ids, ReadOnlySpan<float> doutput, int dim, Span<float> dtable);
    void CrossEntropyForward(ReadOnlySpan<float> logits, int rows, int cols, ReadOnlySpan<int> targets, int ignoreIndex,
        Span<float> losses, Span<float> logSumExp, Span<int> argmax);
    void CrossEntropyBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets,
        int ignoreIndex, int rows, int cols, float scale, Span<float> dlogits);
    void AdamWStep(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, in AdamWParams hp);
    double SumOfSquares(ReadOnlySpan<float> x);
    /// <summary>y += x.</summary>
    void Add(Span<float> y, ReadOnlySpan<float> x);

    /// <summary>[batch, seq, parts·heads·headSize] → [parts, batch, heads, seq, headSize] (Q, K, V for parts = 3).</summary>
    void SplitHeads(ReadOnlySpan<float> src, Span<float> dst, int batch, int seq, int parts, int heads, int headSize);
    /// <summary>The inverse of <see cref="SplitHeads"/>.</summary>
    void MergeHeads(ReadOnlySpan<float> src, Span<float> dst, int batch, int seq, int parts, int heads, int headSize);
}

/// <summary>The CPU backend: forwards every call to the static kernels in <c>BertSharp.Tensors</c>.</summary>
public sealed class CpuBackend : IComputeBackend
{
    public static CpuBackend Instance { get; } = new();

    public string Name => "cpu";

    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        => Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    public void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batchCount)
        => Gemm.SgemmStridedBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batchCount);

    public void BiasAdd(Span<float> y, int rows, int cols, ReadOnlySpan<float> bias) => Bias.Add(y, rows, cols, bias);
    public void BiasBackward(ReadOnlySpan<float> dy, int rows, int cols, Span<float> dbias) => Bias.Backward(dy, rows, cols, dbias);

    public void Gelu(ReadOnlySpan<float> x, Span<float> y, bool tanhApproximation)
    {
        if (tanhApproximation) Activations.GeluTanh(x, y);
        else Activations.Gelu(x, y);
    }

    public void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, bool tanhApproximation)
    {
        if (tanhApproximation) Activations.GeluTanhBackward(x, dy, dx);
        else Activations.GeluBackward(x, dy, dx);
    }

    public void Tanh(ReadOnlySpan<float> x, Span<float> y) => Activations.Tanh(x, y);
    public void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) => Activations.TanhBackward(y, dy, dx);

    public void LayerNormForward(ReadOnlySpan<float> x, int rows, int cols, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        float eps, Span<float> y, Span<float> mean, Span<float> rstd)
        => LayerNorm.Forward(x, rows, cols, gamma, beta, eps, y, mean, rstd);

    public void LayerNormBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> gamma, int rows, int cols, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
        => LayerNorm.Backward(dy, x, mean, rstd, gamma, rows, cols, dx, dgamma, dbeta);

    public void SoftmaxForward(ReadOnlySpan<float> x, Span<float> y, int batch, int rowsPerBatch, int cols, float scale, ReadOnlySpan<float> mask)
        => Softmax.Forward(x, y, batch, rowsPerBatch, cols, scale, mask);

    public void SoftmaxBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols, float scale)
        => Softmax.Backward(y, dy, dx, rows, cols, scale);

    public void DropoutForward(ReadOnlySpan<float> x, Span<float> y, float p, ulong seed, ulong step, uint site)
        => Dropout.Forward(x, y, p, seed, step, site);

    public void DropoutBackward(ReadOnlySpan<float> dy, Span<float> dx, float p, ulong seed, ulong step, uint site)
        => Dropout.Backward(dy, dx, p, seed, step, site);

    public void EmbeddingForward(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim, Span<float> output, bool accumulate)
        => Embedding.Forward(ids, table, dim, output, accumulate);

    public void EmbeddingBackward(ReadOnlySpan<int> ids, ReadOnlySpan<float> doutput, int dim, Span<float> dtable)
        => Embedding.Backward(ids, doutput, dim, dtable);

    public void CrossEntropyForward(ReadOnlySpan<float> logits, int rows, int cols, ReadOnlySpan<int> targets, int ignoreIndex,
        Span<float> losses, Span<float> logSumExp, Span<int> argmax)
        => CrossEntropy.Forward(logits, rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);

    public void CrossEntropyBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets,
        int ignoreIndex, int rows, int cols, float scale, Span<float> dlogits)
        => CrossEntropy.Backward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, dlogits);

    public void AdamWStep(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, in AdamWParams hp)
        => AdamW.Step(param, grad, m, v, hp);

    public double SumOfSquares(ReadOnlySpan<float> x) => Reduce.SumOfSquares(x);

    public void Add(Span<float> y, ReadOnlySpan<float> x) => System.Numerics.Tensors.TensorPrimitives.Add(y, x, y);

    public void SplitHeads(ReadOnlySpan<float> src, Span<float> dst, int batch, int seq, int parts, int heads, int headSize)
    {
        int h = heads * headSize, row = parts * h;
        CheckPermute(src.Length, dst.Length, batch, seq, row);
        // dst[p, b, hd, t, :] = src[b, t, p*h + hd*D : +D]
        for (int p = 0; p < parts; p++)
            for (int b = 0; b < batch; b++)
                for (int hd = 0; hd < heads; hd++)
                {
                    var d = dst.Slice((((p * batch + b) * heads + hd) * seq) * headSize, seq * headSize);
                    int s0 = b * seq * row + p * h + hd * headSize;
                    for (int t = 0; t < seq; t++)
                        src.Slice(s0 + t * row, headSize).CopyTo(d.Slice(t * headSize, headSize));
                }
    }

    public void MergeHeads(ReadOnlySpan<float> src, Span<float> dst, int batch, int seq, int parts, int heads, int headSize)
    {
        int h = heads * headSize, row = parts * h;
        CheckPermute(dst.Length, src.Length, batch, seq, row);
        for (int p = 0; p < parts; p++)
            for (int b = 0; b < batch; b++)
                for (int hd = 0; hd < heads; hd++)
                {
                    var s = src.Slice((((p * batch + b) * heads + hd) * seq) * headSize, seq * headSize);
                    int d0 = b * seq * row + p * h + hd * headSize;
                    for (int t = 0; t < seq; t++)
                        s.Slice(t * headSize, headSize).CopyTo(dst.Slice(d0 + t * row, headSize));
                }
    }

    private static void CheckPermute(int tokenMajor, int headMajor, int batch, int seq, int row)
    {
        long need = (long)batch * seq * row;
        if (tokenMajor < need || headMajor < need)
            throw new ArgumentException($"heads permutation: need {need} floats for [{batch}, {seq}, {row}], got {tokenMajor} and {headMajor}");
    }
}

/// <summary>A fully connected layer y = x·Wᵀ + b with W stored [out, in] as PyTorch's nn.Linear.</summary>
internal static class Dense
{
    public static void Forward(IComputeBackend be, ReadOnlySpan<float> x, int rows, int nIn, int nOut,
        ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
    {
        be.Sgemm(false, true, rows, nOut, nIn, 1f, x, nIn, w, nIn, 0f, y, nOut);
        be.BiasAdd(y, rows, nOut, b);
    }

    /// <summary>dW += dyᵀ·x, db += Σ dy; dx = dy·W (or dx += when <paramref name="accumulateDx"/>); dx skipped when empty.</summary>
    public static void Backward(IComputeBackend be, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, int nIn, int nOut,
        ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> dx, bool accumulateDx)
    {
        be.BiasBackward(dy, rows, nOut, db);
        be.Sgemm(true, false, nOut, nIn, rows, 1f, dy, nOut, x, nIn, 1f, dw, nIn);
        if (!dx.IsEmpty) be.Sgemm(false, false, rows, nIn, nOut, 1f, dy, nOut, w, nIn, accumulateDx ? 1f : 0f, dx, nIn);
    }
}
