using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

/// <summary>SGEMM against a plain float64 reference, plus determinism, argument checks and IEEE cases.
/// These tests change KernelParallel.ThreadCount (up to 5, which creates workers), so they run in the
/// non-parallel kernel collection and cannot disturb other tests' allocation checks.</summary>
[Collection("KernelThreads")]
public class GemmTests
{
    private static readonly int[] Awkward = [1, 3, 7, 17, 33, 65, 127, 130];

    /// <summary>A stored matrix (rows×cols with leading dimension ld) whose padding holds NaN, so a
    /// kernel that reads outside the matrix is caught.</summary>
    private static float[] RandomMatrix(Random rng, int rows, int cols, int ld)
    {
        var x = new float[Math.Max(1, (rows - 1) * ld + cols)];
        Array.Fill(x, float.NaN);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                x[r * ld + j] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static double At(float[] x, bool trans, int ld, int i, int j) => trans ? x[j * ld + i] : x[i * ld + j];

    /// <summary>Plain float64 GEMM; also returns the per-element magnitude Σ|a||b| for the error bound.</summary>
    private static (double[] value, double[] scale) Reference(bool ta, bool tb, int m, int n, int k, float alpha,
        float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var v = new double[m * n];
        var s = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0, mag = 0;
                for (int p = 0; p < k; p++)
                {
                    double t = At(a, ta, lda, i, p) * At(b, tb, ldb, p, j);
                    acc += t;
                    mag += Math.Abs(t);
                }
                double cOld = beta == 0 ? 0 : beta * (double)c[i * ldc + j];
                v[i * n + j] = alpha * acc + cOld;
                s[i * n + j] = Math.Abs(alpha) * mag + Math.Abs(cOld);
            }
        return (v, s);
    }

    private static void CheckCase(Random rng, bool ta, bool tb, int m, int n, int k, float alpha, float beta,
                                  int padA = 0, int padB = 0, int padC = 0)
    {
        int lda = (ta ? m : k) + padA, ldb = (tb ? k : n) + padB, ldc = n + padC;
        var a = RandomMatrix(rng, ta ? k : m, ta ? m : k, lda);
        var b = RandomMatrix(rng, tb ? n : k, tb ? k : n, ldb);
        var c = RandomMatrix(rng, m, n, ldc);
        for (int i = 0; i < c.Length; i++) if (float.IsNaN(c[i])) c[i] = 12345f;   // C padding sentinel
        if (beta == 0) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[i * ldc + j] = float.NaN;
        var (want, scale) = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        var got = (float[])c.Clone();
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double err = Math.Abs(got[i * ldc + j] - want[i * n + j]);
                double tol = (k + 4) * 1.2e-7 * scale[i * n + j] + 1e-30;
                if (!(err <= tol))
                    Assert.Fail($"ta={ta} tb={tb} {m}x{n}x{k} alpha={alpha} beta={beta}: C[{i},{j}] = {got[i * ldc + j]}, want {want[i * n + j]} (tol {tol:g3})");
            }
            for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                Assert.Equal(12345f, got[i * ldc + j]);   // padding of C untouched
        }
    }

    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    [Theory]
    [MemberData(nameof(Transposes))]
    public void AwkwardShapesMatchReference(bool ta, bool tb)
    {
        var rng = new Random(1234 + (ta ? 2 : 0) + (tb ? 1 : 0));
        for (int i = 0; i < Awkward.Length; i++)
            for (int j = 0; j < Awkward.Length; j++)
                CheckCase(rng, ta, tb, Awkward[i], Awkward[j], Awkward[(i + 2 * j) % Awkward.Length], 1f, 0f);
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void LargeShapeMatchesReference(bool ta, bool tb)
        => CheckCase(new Random(77), ta, tb, 300, 257, 129, 1f, 0f);

    [Fact]
    public void BlockBoundariesInEveryDimensionMatchReference()
    {
        // m > MB, n > NB and k > 2·KC with ragged tails, so every blocking loop runs more than once.
        var rng = new Random(5);
        CheckCase(rng, false, true, 1000, 530, 2 * Gemm.KC + 37, 0.75f, 0.5f);
        CheckCase(rng, true, false, 61, 1100, Gemm.KC + 1, 1f, 1f);
    }

    [Theory]
    [InlineData(1f, 1f)]
    [InlineData(1f, 0.7f)]
    [InlineData(-1.5f, 0f)]
    [InlineData(0.5f, -2f)]
    [InlineData(2f, 1f)]
    public void AlphaBetaCasesMatchReference(float alpha, float beta)
    {
        var rng = new Random(9);
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            CheckCase(rng, ta, tb, 33, 65, 17, alpha, beta);
            CheckCase(rng, ta, tb, 130, 7, 300, alpha, beta);
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void LeadingDimensionsWiderThanTheMatrix(bool ta, bool tb)
    {
        var rng = new Random(31);
        CheckCase(rng, ta, tb, 17, 33, 65, 1f, 0.5f, padA: 3, padB: 11, padC: 5);
        CheckCase(rng, ta, tb, 127, 70, 40, -1f, 0f, padA: 1, padB: 1, padC: 33);
    }

    [Fact]
    public void BetaZeroIgnoresNaNInC()
    {
        var a = new float[] { 1, 2, 3, 4 };
        var b = new float[] { 1, 0, 0, 1 };
        var c = new float[] { float.NaN, float.PositiveInfinity, float.NaN, float.NegativeInfinity };
        Gemm.Sgemm(false, false, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, c);
    }

    [Fact]
    public void NaNAndInfinityPropagate()
    {
        var rng = new Random(3);
        int m = 20, n = 40, k = 30;
        var a = RandomMatrix(rng, m, k, k);
        var b = RandomMatrix(rng, k, n, n);
        a[5 * k + 7] = float.NaN;                  // row 5 of C becomes NaN
        a[9 * k + 3] = float.PositiveInfinity;     // row 9: ±inf where b[3, j] != 0, NaN where b[3, j] == 0
        b[3 * n + 11] = 0f;
        b[3 * n + 12] = 2f;
        b[3 * n + 13] = -2f;
        a[9 * k + 4] = 0f;                         // keep row 9 otherwise finite
        var c = new float[m * n];
        Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
        for (int j = 0; j < n; j++) Assert.True(float.IsNaN(c[5 * n + j]), $"C[5,{j}] = {c[5 * n + j]}");
        Assert.True(float.IsNaN(c[9 * n + 11]));
        Assert.Equal(float.PositiveInfinity, c[9 * n + 12]);
        Assert.Equal(float.NegativeInfinity, c[9 * n + 13]);
        for (int i = 0; i < m; i++)
            if (i != 5 && i != 9)
                for (int j = 0; j < n; j++) Assert.True(float.IsFinite(c[i * n + j]));
        // NaN already in C propagates when beta != 0.
        var c2 = new float[m * n];
        c2[17] = float.NaN;
        a[5 * k + 7] = 0f; a[9 * k + 3] = 0f;
        Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 1f, c2, n);
        Assert.True(float.IsNaN(c2[17]));
        Assert.True(float.IsFinite(c2[18]));
    }

    [Fact]
    public void AlphaZeroOrKZeroDoesNotReadAOrB()
    {
        // Reference BLAS semantics: with alpha == 0 (or k == 0) A and B are not read; C = beta * C.
        var a = new float[] { float.NaN, float.NaN, float.NaN, float.NaN };
        var b = new float[] { float.NaN, float.PositiveInfinity, float.NaN, float.NaN };
        var c = new float[] { 1, 2, 3, 4 };
        Gemm.Sgemm(false, true, 2, 2, 2, 0f, a, 2, b, 2, 0.5f, c, 2);
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2 }, c);
        c = [1, float.NaN, 3, 4];
        Gemm.Sgemm(false, false, 2, 2, 2, 0f, a, 2, b, 2, 0f, c, 2);
        Assert.Equal(new float[] { 0, 0, 0, 0 }, c);
        c = [1, 2, 3, 4];
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 2, 2f, c, 2);
        Assert.Equal(new float[] { 2, 4, 6, 8 }, c);
    }

    /// <summary>Runs one GEMM under the given thread count and kernel family.</summary>
    private static float[] Run(int threads, GemmIsa isa, bool ta, bool tb, int m, int n, int k, float[] a, float[] b, float[] c0, float beta)
    {
        int savedThreads = KernelParallel.ThreadCount;
        var savedIsa = Gemm.Isa;
        try
        {
            KernelParallel.ThreadCount = threads;
            Gemm.Isa = isa;
            var c = (float[])c0.Clone();
            Gemm.Sgemm(ta, tb, m, n, k, 0.9f, a, ta ? m : k, b, tb ? k : n, beta, c, n);
            return c;
        }
        finally
        {
            KernelParallel.ThreadCount = savedThreads;
            Gemm.Isa = savedIsa;
        }
    }

    [Theory]
    [InlineData(false, true, 300, 257, 129)]
    [InlineData(true, false, 97, 1100, 300)]
    [InlineData(false, false, 700, 45, 520)]
    public void BitwiseIdenticalForAnyThreadCountAndKernel(bool ta, bool tb, int m, int n, int k)
    {
        var rng = new Random(m + n + k);
        var a = RandomMatrix(rng, ta ? k : m, ta ? m : k, ta ? m : k);
        var b = RandomMatrix(rng, tb ? n : k, tb ? k : n, tb ? k : n);
        var c0 = RandomMatrix(rng, m, n, n);
        var baseline = Run(1, Gemm.BestIsa, ta, tb, m, n, k, a, b, c0, 0.3f);
        foreach (int threads in new[] { 2, 5 })
            Assert.Equal(baseline, Run(threads, Gemm.BestIsa, ta, tb, m, n, k, a, b, c0, 0.3f));
        for (var isa = GemmIsa.Portable; isa < Gemm.BestIsa; isa++)
            Assert.Equal(baseline, Run(2, isa, ta, tb, m, n, k, a, b, c0, 0.3f));
    }

    [Theory]
    [InlineData(false, true, 17, 33, 65, 7)]     // small GEMMs: parallel over the batch
    [InlineData(true, false, 32, 32, 16, 40)]    // attention-like
    [InlineData(false, false, 256, 256, 128, 3)] // large GEMMs: each one parallel
    public void StridedBatchedMatchesPerMatrixGemm(bool ta, bool tb, int m, int n, int k, int batch)
    {
        var rng = new Random(batch * 1000 + m);
        int lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
        long sa = (long)(ta ? k : m) * lda + 5, sb = (long)(tb ? n : k) * ldb + 3, sc = (long)m * ldc + 7;
        var a = RandomMatrix(rng, 1, (int)(sa * batch), (int)(sa * batch));
        var b = RandomMatrix(rng, 1, (int)(sb * batch), (int)(sb * batch));
        var c0 = RandomMatrix(rng, 1, (int)(sc * batch), (int)(sc * batch));
        foreach (int threads in new[] { 1, 2, 5 })
        {
            int saved = KernelParallel.ThreadCount;
            try
            {
                KernelParallel.ThreadCount = threads;
                var c = (float[])c0.Clone();
                Gemm.SgemmStridedBatched(ta, tb, m, n, k, 1.25f, a, lda, sa, b, ldb, sb, 0.5f, c, ldc, sc, batch);
                var want = (float[])c0.Clone();
                for (int i = 0; i < batch; i++)
                {
                    KernelParallel.ThreadCount = 1;
                    Gemm.Sgemm(ta, tb, m, n, k, 1.25f, a.AsSpan((int)(i * sa)), lda, b.AsSpan((int)(i * sb)), ldb,
                               0.5f, want.AsSpan((int)(i * sc)), ldc);
                }
                Assert.Equal(want, c);   // bitwise, gaps between the C matrices untouched
                // And against the float64 reference for the last matrix.
                int last = batch - 1;
                var (v, s) = Reference(ta, tb, m, n, k, 1.25f, a[(int)(last * sa)..], lda, b[(int)(last * sb)..], ldb,
                                       0.5f, c0[(int)(last * sc)..], ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        Assert.True(Math.Abs(c[last * sc + i * ldc + j] - v[i * n + j]) <= (k + 4) * 1.2e-7 * s[i * n + j]);
            }
            finally { KernelParallel.ThreadCount = saved; }
        }
    }

    [Fact]
    public void StridedBatchedSharedBMatrix()
    {
        var rng = new Random(8);
        int m = 5, n = 6, k = 7, batch = 4;
        var a = RandomMatrix(rng, batch * m, k, k);
        var b = RandomMatrix(rng, k, n, n);
        var c = new float[batch * m * n];
        Gemm.SgemmStridedBatched(false, false, m, n, k, 1f, a, k, m * k, b, n, 0, 0f, c, n, m * n, batch);
        var want = new float[batch * m * n];
        Gemm.Sgemm(false, false, batch * m, n, k, 1f, a, k, b, n, 0f, want, n);   // same thing as one tall GEMM
        Assert.Equal(want, c);
    }

    [Fact]
    public void ArgumentErrorsNameTheArgumentAndSizes()
    {
        var a = new float[6];
        var b = new float[6];
        var c = new float[5];
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 3, 2, 1f, a, 2, b, 3, 0f, c, 3));
        Assert.Equal("c", ex.ParamName);
        Assert.StartsWith("c: need 6 floats for 2x3 (ldc 3), got 5", ex.Message);

        var c6 = new float[] { 1, 2, 3, 4, 5, 6 };
        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, true, 2, 3, 4, 1f, a, 4, b, 4, 0f, c6, 3));
        Assert.StartsWith("a: need 8 floats for 2x4 (lda 4), got 6", ex.Message);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, c6);   // nothing touched before the check

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(true, false, 2, 3, 2, 1f, a, 1, b, 3, 0f, c6, 3));
        Assert.Equal("lda", ex.ParamName);
        Assert.StartsWith("lda: 1 is less than the 2 columns of a (2x2)", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, true, 2, 3, 2, 1f, a, 2, new float[5], 2, 0f, c6, 3));
        Assert.StartsWith("b: need 6 floats for 3x2 (ldb 2), got 5", ex.Message);

        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Sgemm(false, false, -1, 3, 2, 1f, a, 2, b, 3, 0f, c6, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Sgemm(false, false, 2, 3, -2, 1f, a, 2, b, 3, 0f, c6, 3));

        ex = Assert.Throws<ArgumentException>(() =>
            Gemm.SgemmStridedBatched(false, false, 2, 3, 2, 1f, new float[12], 2, 4, b, 3, 0, 0f, new float[17], 3, 6, 3));
        Assert.StartsWith("c: need 18 floats for 3 batches of 2x3 (ldc 3, stride 6), got 17", ex.Message);
        ex = Assert.Throws<ArgumentException>(() =>
            Gemm.SgemmStridedBatched(false, false, 2, 3, 2, 1f, new float[12], 2, 4, b, 3, 0, 0f, new float[18], 3, 0, 3));
        Assert.Equal("strideC", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemm.SgemmStridedBatched(false, false, 2, 3, 2, 1f, a, 2, -1, b, 3, 0, 0f, c6, 3, 6, 1));
    }

    [Fact]
    public void SteadyStateCallsDoNotAllocate()
    {
        var rng = new Random(12);
        // Small enough to stay on this thread (below the parallel threshold), so another test changing
        // KernelParallel.ThreadCount meanwhile cannot make this thread create workers.
        int m = 60, n = 50, k = 40;
        var a = RandomMatrix(rng, m, k, k);
        var b = RandomMatrix(rng, n, k, k);
        var c = new float[m * n];
        var batched = new float[4 * m * n];
        Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
        Gemm.SgemmStridedBatched(false, true, m, n, k, 1f, a, k, 0, b, k, 0, 0f, batched, n, m * n, 4);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0.5f, c, n);
            Gemm.SgemmStridedBatched(false, true, m, n, k, 1f, a, k, 0, b, k, 0, 0f, batched, n, m * n, 4);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void EmptyShapesAreNoOps()
    {
        var c = new float[] { 1, 2 };
        Gemm.Sgemm(false, false, 0, 2, 3, 1f, ReadOnlySpan<float>.Empty, 3, new float[6], 2, 0f, Span<float>.Empty, 2);
        Gemm.Sgemm(false, false, 1, 0, 3, 1f, new float[3], 3, ReadOnlySpan<float>.Empty, 1, 0f, Span<float>.Empty, 1);
        Gemm.SgemmStridedBatched(false, false, 1, 2, 1, 1f, new float[1], 1, 1, new float[2], 2, 2, 0f, c, 2, 2, 0);
        Assert.Equal(new float[] { 1, 2 }, c);
    }
}
