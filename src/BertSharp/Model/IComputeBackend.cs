using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The operations the layers need, one method per kernel of <c>Tensors/README.md</c> plus a two-level
/// batched GEMM for attention. Layers only talk to this interface, so a GPU backend can be added by
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
    /// <summary>Output-layer bias + softmax cross-entropy in one pass: logits += bias (in place), then as
    /// CrossEntropy.Forward.</summary>
    void BiasCrossEntropyForward(Span<float> logits, ReadOnlySpan<float> bias, int rows, int cols, ReadOnlySpan<int> targets,
        int ignoreIndex, Span<float> losses, Span<float> logSumExp, Span<int> argmax);
    /// <summary>Its backward in one pass: logits (with bias) become d(logits) in place; dbias += column sums.
    /// <paramref name="scratch"/> holds <see cref="BiasCrossEntropyScratch"/> floats.</summary>
    void BiasCrossEntropyBackward(Span<float> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets, int ignoreIndex,
        int rows, int cols, float scale, Span<float> dbias, Span<float> scratch);
    long BiasCrossEntropyScratch(int rows, int cols);
    /// <summary>y += x.</summary>
    void Add(Span<float> y, ReadOnlySpan<float> x);

    /// <summary>
    /// outer × inner independent GEMMs C = alpha·op(A)·op(B) + beta·C where matrix (o, i) of each operand starts
    /// at o·strideOuter + i·strideInner. Attention uses it with outer = batch and inner = heads, so Q, K, V are
    /// read straight from the [B, T, 3H] projection (head h at column h·D) and the context written straight
    /// into [B, T, H], without permuting to [B, H, T, D] and back.
    /// </summary>
    void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideAOuter, long strideAInner,
        ReadOnlySpan<float> b, int ldb, long strideBOuter, long strideBInner,
        float beta, Span<float> c, int ldc, long strideCOuter, long strideCInner, int outer, int inner);
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

    public unsafe void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideAOuter, long strideAInner,
        ReadOnlySpan<float> b, int ldb, long strideBOuter, long strideBInner,
        float beta, Span<float> c, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
    {
        long lenA = Extent(transA ? k : m, transA ? m : k, lda), lenB = Extent(transB ? n : k, transB ? k : n, ldb), lenC = Extent(m, n, ldc);
        long lastA = (outer - 1) * strideAOuter + (inner - 1) * strideAInner + lenA;
        long lastB = (outer - 1) * strideBOuter + (inner - 1) * strideBInner + lenB;
        long lastC = (outer - 1) * strideCOuter + (inner - 1) * strideCInner + lenC;
        if (outer <= 0 || inner <= 0) return;
        if (a.Length < lastA || b.Length < lastB || c.Length < lastC)
            throw new ArgumentException($"batched GEMM: operands too short (a {a.Length} < {lastA}, b {b.Length} < {lastB} or c {c.Length} < {lastC})");
        fixed (float* pa = a, pb = b, pc = c)
        {
            var body = new Batched2DBody
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                A = pa, Lda = lda, SAo = strideAOuter, SAi = strideAInner, LenA = (int)lenA,
                B = pb, Ldb = ldb, SBo = strideBOuter, SBi = strideBInner, LenB = (int)lenB,
                C = pc, Ldc = ldc, SCo = strideCOuter, SCi = strideCInner, LenC = (int)lenC, Inner = inner,
            };
            // Each matrix runs whole on one thread (nested kernel calls run inline), so the result does not
            // depend on the thread count.
            KernelParallel.For(outer * inner, 1, ref body);
        }
    }

    private static long Extent(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    private unsafe struct Batched2DBody : IRangeBody
    {
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, LenA, LenB, LenC, Inner;
        public float Alpha, Beta;
        public float* A, B, C;
        public long SAo, SAi, SBo, SBi, SCo, SCi;

        public void Invoke(int start, int end)
        {
            for (int idx = start; idx < end; idx++)
            {
                int o = idx / Inner, i = idx % Inner;
                Gemm.Sgemm(TransA, TransB, M, N, K, Alpha,
                    new ReadOnlySpan<float>(A + o * SAo + i * SAi, LenA), Lda,
                    new ReadOnlySpan<float>(B + o * SBo + i * SBi, LenB), Ldb, Beta,
                    new Span<float>(C + o * SCo + i * SCi, LenC), Ldc);
            }
        }
    }

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

    public void BiasCrossEntropyForward(Span<float> logits, ReadOnlySpan<float> bias, int rows, int cols, ReadOnlySpan<int> targets,
        int ignoreIndex, Span<float> losses, Span<float> logSumExp, Span<int> argmax)
        => LogitsCrossEntropy.Forward(logits, bias, rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);

    public void BiasCrossEntropyBackward(Span<float> logits, ReadOnlySpan<float> logSumExp, ReadOnlySpan<int> targets, int ignoreIndex,
        int rows, int cols, float scale, Span<float> dbias, Span<float> scratch)
        => LogitsCrossEntropy.Backward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, dbias, scratch);

    public long BiasCrossEntropyScratch(int rows, int cols) => LogitsCrossEntropy.PartialsLength(rows, cols);

    public void Add(Span<float> y, ReadOnlySpan<float> x) => System.Numerics.Tensors.TensorPrimitives.Add(y, x, y);
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
