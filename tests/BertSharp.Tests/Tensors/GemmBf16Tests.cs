using System.Diagnostics;
using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

/// <summary>Skips unless GNU <c>as</c> is on the PATH.</summary>
public sealed class NeedsGnuAsFactAttribute : FactAttribute
{
    public NeedsGnuAsFactAttribute()
    {
        if (GemmBf16Tests.FindAs() is null) Skip = "needs GNU as (binutils) on the PATH";
    }
}

/// <summary>The bf16 GEMM against a float64 reference whose inputs are rounded to bf16 the same way (exact products,
/// float64 sums), on every shape class; the vdpbf16ps path against the fallback (bitwise); thread-count invariance;
/// the conversions; the run-time assembler against GNU as. Changes KernelParallel.ThreadCount and the GEMM paths, so
/// it runs in the non-parallel kernel collection.</summary>
[Collection("KernelThreads")]
public class GemmBf16Tests
{
    private static bool HasFast => Gemm.BestBf16Path == GemmBf16Path.Avx512Bf16;

    /// <summary>The paths to check: the fallback always, the vdpbf16ps kernel where the CPU has it.</summary>
    public static TheoryData<bool> Paths => HasFast ? new() { false, true } : new() { false };

    private static T WithPath<T>(bool fast, Func<T> run)
    {
        var saved = Gemm.Bf16Path;
        Gemm.Bf16Path = fast ? GemmBf16Path.Avx512Bf16 : GemmBf16Path.Fallback;
        try { return run(); }
        finally { Gemm.Bf16Path = saved; }
    }

    private static float[] RandomMatrix(Random rng, int rows, int cols, int ld)
    {
        var x = new float[Math.Max(1, (rows - 1) * ld + cols)];
        Array.Fill(x, float.NaN);   // padding: a kernel that reads it gets NaN
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                x[r * ld + j] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static double Bf(float x) => BFloat16.Round(x);

    private static double At(float[] x, bool trans, int ld, int i, int j) => Bf(trans ? x[j * ld + i] : x[i * ld + j]);

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

    private static ushort[] ToBf16(float[] x)
    {
        var h = new ushort[x.Length];
        BFloat16.FromSingle(x, h);
        return h;
    }

    /// <summary>Runs one case through all four operand-type overloads and checks each against the reference;
    /// returns C from the float/float overload.</summary>
    private static float[] CheckCase(Random rng, bool fast, bool ta, bool tb, int m, int n, int k, float alpha, float beta,
                                     int padA = 0, int padB = 0, int padC = 0)
    {
        int lda = (ta ? m : k) + padA, ldb = (tb ? k : n) + padB, ldc = n + padC;
        var a = RandomMatrix(rng, ta ? k : m, ta ? m : k, lda);
        var b = RandomMatrix(rng, tb ? n : k, tb ? k : n, ldb);
        var c = RandomMatrix(rng, m, n, ldc);
        for (int i = 0; i < c.Length; i++) if (float.IsNaN(c[i])) c[i] = 12345f;   // C padding sentinel
        if (beta == 0) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[i * ldc + j] = float.NaN;
        var (want, scale) = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        ushort[] ah = ToBf16(a), bh = ToBf16(b);
        float[]? first = null;
        for (int overload = 0; overload < 4; overload++)
        {
            var got = (float[])c.Clone();
            WithPath(fast, () =>
            {
                switch (overload)
                {
                    case 0: Gemm.SgemmBf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc); break;
                    case 1: Gemm.SgemmBf16(ta, tb, m, n, k, alpha, ah, lda, bh, ldb, beta, got, ldc); break;
                    case 2: Gemm.SgemmBf16(ta, tb, m, n, k, alpha, ah, lda, b, ldb, beta, got, ldc); break;
                    default: Gemm.SgemmBf16(ta, tb, m, n, k, alpha, a, lda, bh, ldb, beta, got, ldc); break;
                }
                return 0;
            });
            string what = $"fast={fast} overload {overload} ta={ta} tb={tb} {m}x{n}x{k} alpha={alpha} beta={beta}";
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double err = Math.Abs(got[i * ldc + j] - want[i * n + j]);
                    double tol = (k + 4) * 1.2e-7 * scale[i * n + j] + 1e-30;
                    if (!(err <= tol))
                        Assert.Fail($"{what}: C[{i},{j}] = {got[i * ldc + j]}, want {want[i * n + j]} (tol {tol:g3})");
                }
                for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                    Assert.Equal(12345f, got[i * ldc + j]);
            }
            // Rounding while packing and packing bf16 as it is give the same bits.
            if (first is null) first = got;
            else Assert.True(first.AsSpan().SequenceEqual(got), $"{what}: differs from the float/float overload");
        }
        return first!;
    }

    public static TheoryData<bool, bool, bool> PathsAndTransposes()
    {
        var d = new TheoryData<bool, bool, bool>();
        foreach (bool fast in HasFast ? new[] { false, true } : new[] { false })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    d.Add(fast, ta, tb);
        return d;
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void AwkwardShapesMatchReference(bool fast, bool ta, bool tb)
    {
        var rng = new Random(1);
        int[] sizes = [1, 2, 3, 13, 31, 33, 65];
        foreach (int m in sizes)
            foreach (int n in new[] { 1, 5, 32, 47 })
                foreach (int k in new[] { 1, 2, 3, 17, 64 })
                    CheckCase(rng, fast, ta, tb, m, n, k, 1f, 0f);
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void LargeAndBlockBoundaryShapesMatchReference(bool fast, bool ta, bool tb)
    {
        var rng = new Random(2);
        // k across the KC block (1024) with an odd remainder; m across MB (960), n across NB (256), both ragged.
        CheckCase(rng, fast, ta, tb, 131, 77, 1029, 0.5f, 0.25f);
        CheckCase(rng, fast, ta, tb, 970, 33, 45, 1f, 0f);
        CheckCase(rng, fast, ta, tb, 25, 530, 39, 1f, 1f);
        CheckCase(rng, fast, ta, tb, 200, 160, 300, -1.5f, 0f);   // parallel path (m·n·k ≥ 2^19)
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void LeadingDimensionsWiderAndAlphaBeta(bool fast, bool ta, bool tb)
    {
        var rng = new Random(3);
        CheckCase(rng, fast, ta, tb, 29, 37, 19, 1f, 0f, padA: 3, padB: 5, padC: 7);
        CheckCase(rng, fast, ta, tb, 12, 32, 20, 2f, 0.5f, padA: 1, padB: 1, padC: 1);
        foreach (var (alpha, beta) in new[] { (1f, 1f), (-0.5f, 0f), (0.75f, -2f), (3f, 1f) })
            CheckCase(rng, fast, ta, tb, 26, 70, 11, alpha, beta);
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void Bf16OutputIsTheRoundedFloat32Output(bool fast, bool ta, bool tb)
    {
        var rng = new Random(8);
        foreach (var (m, n, k, beta) in new[] { (13, 47, 3, 0f), (40, 33, 1100, 0.5f), (970, 20, 30, 1f), (25, 530, 17, -2f), (200, 160, 300, 0f) })
        {
            int lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 3;
            var a = RandomMatrix(rng, ta ? k : m, ta ? m : k, lda);
            var b = RandomMatrix(rng, tb ? n : k, tb ? k : n, ldb);
            var c0 = RandomMatrix(rng, m, n, ldc);
            for (int i = 0; i < c0.Length; i++) c0[i] = float.IsNaN(c0[i]) ? 777f : BFloat16.Round(c0[i]);
            if (beta == 0) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c0[i * ldc + j] = float.NaN;
            var f = (float[])c0.Clone();
            var h = ToBf16(c0);
            var hb = new ushort[3 * c0.Length];
            for (int i = 0; i < 3; i++) h.CopyTo(hb, i * c0.Length);
            WithPath(fast, () =>
            {
                Gemm.SgemmBf16(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, f, ldc);
                Gemm.SgemmBf16(ta, tb, m, n, k, 0.75f, a, lda, ToBf16(b), ldb, beta, h, ldc);
                Gemm.SgemmBf16StridedBatched(ta, tb, m, n, k, 0.75f, ToBf16(a), lda, 0, b, ldb, 0, beta, hb, ldc, c0.Length, 3);
                return 0;
            });
            var want = ToBf16(f);   // padding (777) untouched in both
            Assert.True(want.AsSpan().SequenceEqual(h), $"fast={fast} ta={ta} tb={tb} {m}x{n}x{k} beta={beta}");
            for (int i = 0; i < 3; i++)
                Assert.True(want.AsSpan().SequenceEqual(hb.AsSpan(i * c0.Length, c0.Length)), $"batched {i}: {m}x{n}x{k}");
        }
    }

    [Fact]
    public void OtherElementTypesAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.SgemmBf16(false, false, 1, 1, 1, 1f, new double[1], 1, new float[1], 1, 0f, new float[1], 1));
        Assert.Equal("a", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.SgemmBf16(false, false, 1, 1, 1, 1f, new float[1], 1, new float[1], 1, 0f, new short[1], 1));
        Assert.Equal("c", ex.ParamName);
    }

    [Fact]
    public void AlphaZeroOrKZeroDoesNotReadAOrBAndBetaZeroIgnoresC()
    {
        var c = new float[] { 1, 2, 3, 4 };
        var nanA = new float[] { float.NaN, float.NaN, float.NaN, float.NaN };
        Gemm.SgemmBf16(false, false, 2, 2, 2, 0f, nanA, 2, nanA, 2, 2f, c, 2);
        Assert.Equal(new float[] { 2, 4, 6, 8 }, c);
        Gemm.SgemmBf16(false, false, 2, 2, 0, 1f, ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 2, 0f, c, 2);
        Assert.Equal(new float[4], c);
        foreach (bool fast in HasFast ? new[] { false, true } : new[] { false })
        {
            var d = new float[] { float.NaN, float.NaN, float.NaN, float.NaN };
            WithPath(fast, () => { Gemm.SgemmBf16(false, false, 2, 2, 1, 1f, new float[] { 1, 2 }, 1, new float[] { 3, 4 }, 2, 0f, d, 2); return 0; });
            Assert.Equal(new float[] { 3, 4, 6, 8 }, d);
        }
    }

    [Fact]
    public void ArgumentErrorsNameTheArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.SgemmBf16(false, false, 2, 3, 4, 1f, new float[7], 4, new float[12], 3, 0f, new float[6], 3));
        Assert.Equal("a", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.SgemmBf16(false, false, 2, 3, 4, 1f, new ushort[8], 4, new ushort[11], 3, 0f, new float[6], 3));
        Assert.Equal("b", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.SgemmBf16(false, false, 2, 3, 4, 1f, new float[8], 3, new float[12], 3, 0f, new float[6], 3));
        Assert.Equal("lda", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.SgemmBf16(false, false, -1, 3, 4, 1f, new float[8], 4, new float[12], 3, 0f, new float[6], 3));
    }

    /// <summary>The direct copy-direction packer of the pairs layout (panels of 12 and 32) writes exactly the bits of
    /// the staged one, for ragged widths, odd kc, both source types and special values.</summary>
    [Fact]
    public unsafe void DirectCopyPackingMatchesStaged()
    {
        var rng = new Random(11);
        uint[] specials = [0x7FC00000u, 0xFF800000u, 0x00008000u, 0x807FFFFFu, 0x80000000u, 0x3F808000u, 0x7F7FFFFFu];
        foreach (int w in new[] { 12, 32 })
            foreach (int width in new[] { 1, 11, 12, 13, 16, 31, 32, 47, 48, 49, 63, 64, 96, 100, 145, 960 })
                foreach (int kc in new[] { 1, 2, 7, 64 })
                    foreach (bool bf16 in new[] { false, true })
                    {
                        int ld = width + 5, steps = (kc + 1) / 2, panels = (width + w - 1) / w;
                        var src = new uint[kc * ld];
                        for (int i = 0; i < src.Length; i++)
                            src[i] = rng.Next(8) == 0 ? specials[rng.Next(specials.Length)] : BitConverter.SingleToUInt32Bits((float)(rng.NextDouble() * 4 - 2));
                        var src16 = src.Select(u => (ushort)(u >> 16)).ToArray();
                        var want = new uint[panels * w * steps];
                        var got = new uint[want.Length];
                        var stage = new uint[Math.Max(w * steps, width) + 16];
                        Array.Fill(got, 0xDEADBEEFu);
                        fixed (uint* ps = src) fixed (ushort* ph = src16) fixed (uint* pw = want) fixed (uint* pg = got) fixed (uint* st = stage)
                        {
                            void* x = bf16 ? ph : ps;
                            GemmBf16Packing.DirectCopy = false;
                            try { GemmBf16Packing.Pack(x, bf16, ld, true, width, kc, pw, w, true, st); }
                            finally { GemmBf16Packing.DirectCopy = true; }
                            GemmBf16Packing.Pack(x, bf16, ld, true, width, kc, pg, w, true, st);
                        }
                        Assert.True(want.AsSpan().SequenceEqual(got), $"w {w} width {width} kc {kc} bf16 {bf16}");
                    }
    }

    [Theory]
    [InlineData(false, false, 300, 200, 700)]
    [InlineData(false, true, 97, 513, 255)]
    [InlineData(true, false, 1000, 64, 33)]
    [InlineData(true, true, 45, 45, 1100)]
    public void FastPathMatchesFallbackBitwiseAndThreadCountDoesNotMatter(bool ta, bool tb, int m, int n, int k)
    {
        var rng = new Random(m + n + k);
        int lda = ta ? m : k, ldb = tb ? k : n;
        var a = RandomMatrix(rng, ta ? k : m, ta ? m : k, lda);
        var b = RandomMatrix(rng, tb ? n : k, tb ? k : n, ldb);
        var c0 = RandomMatrix(rng, m, n, n);
        float[] Run(bool fast, float beta) => WithPath(fast, () =>
        {
            var c = (float[])c0.Clone();
            Gemm.SgemmBf16(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, beta, c, n);
            return c;
        });
        foreach (float beta in new[] { 0f, 0.3f })
        {
            var fallback = Run(false, beta);
            KT.SameBitsForThreadCounts(() => Run(false, beta), 1, 2, 5);
            if (!HasFast) continue;
            KT.SameBitsForThreadCounts(() => Run(true, beta), 1, 2, 5);
            var fast = Run(true, beta);
            for (int i = 0; i < fast.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(fast[i]) == BitConverter.SingleToInt32Bits(fallback[i]),
                    $"beta {beta}: C[{i}] vdpbf16ps {fast[i]:R}, fallback {fallback[i]:R}");
        }
        // Every float32 kernel family gives the fallback the same bits.
        var savedIsa = Gemm.Isa;
        try
        {
            var best = Run(false, 0.3f);
            for (var isa = GemmIsa.Portable; isa < Gemm.BestIsa; isa++)
            {
                Gemm.Isa = isa;
                Assert.True(best.AsSpan().SequenceEqual(Run(false, 0.3f)), $"fallback on {isa} differs");
            }
        }
        finally { Gemm.Isa = savedIsa; }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void StridedBatchedAndBatched2DMatchSingleCalls(bool fast)
    {
        var rng = new Random(7);
        foreach (var (ta, tb, m, n, k, batch, shareB) in new[] { (false, true, 17, 19, 9, 5, false), (true, false, 40, 33, 70, 3, true),
                                                                (false, false, 128, 64, 128, 6, false), (true, true, 3, 2, 1, 4, true) })
        {
            int lda = ta ? m : k, ldb = tb ? k : n;
            long sA = m * k + 3, sB = shareB ? 0 : k * n + 1, sC = m * n + 2;
            var a = RandomMatrix(rng, 1, (int)sA * batch, (int)sA * batch);
            var b = RandomMatrix(rng, 1, (int)(shareB ? k * n : sB * batch), 1);
            var want = new float[sC * batch];
            var got = new float[sC * batch];
            var got2 = new float[sC * batch];
            WithPath(fast, () =>
            {
                for (int i = 0; i < batch; i++)
                    Gemm.SgemmBf16(ta, tb, m, n, k, 1.5f, a.AsSpan((int)(i * sA)), lda, b.AsSpan((int)(i * sB)), ldb, 0f, want.AsSpan((int)(i * sC)), n);
                Gemm.SgemmBf16StridedBatched(ta, tb, m, n, k, 1.5f, a, lda, sA, b, ldb, sB, 0f, got, n, sC, batch);
                Gemm.SgemmBf16StridedBatched(ta, tb, m, n, k, 1.5f, ToBf16(a), lda, sA, ToBf16(b), ldb, sB, 0f, got2, n, sC, batch);
                return 0;
            });
            Assert.Equal(want, got);
            Assert.Equal(want, got2);
            // 2D: outer 2 × inner batch/2 (or batch × 1), inner stride = the batch stride.
            int outer = batch % 2 == 0 ? 2 : batch, inner = batch / outer;
            var got3 = new float[sC * batch];
            WithPath(fast, () =>
            {
                Gemm.SgemmBf16Batched2D(ta, tb, m, n, k, 1.5f, a, lda, sA * inner, sA, b, ldb, sB * inner, sB, 0f, got3, n, sC * inner, sC, outer, inner);
                return 0;
            });
            Assert.Equal(want, got3);
            var got4 = new ushort[sC * batch];
            WithPath(fast, () =>
            {
                Gemm.SgemmBf16Batched2D(ta, tb, m, n, k, 1.5f, ToBf16(a), lda, sA * inner, sA, ToBf16(b), ldb, sB * inner, sB, 0f, got4, n, sC * inner, sC, outer, inner);
                return 0;
            });
            Assert.Equal(ToBf16(want), got4);
        }
    }

    // The device's SgemmBatched2D with bf16 operands (a, b, c: any combination, on the fp32 and the bf16 device), in
    // attention's interleaved layout (matrix (o, i) of each operand at o·rows·inner·cols + i·cols, leading dimension
    // inner·cols, so the matrices of one operand interleave row by row): against a reference on bf16-rounded inputs
    // (exact products, float64 sums); the float32 C is the same bits whichever type carried A and B and on either
    // device, and a bf16 C is that float32 result rounded once.
    [Theory]
    [InlineData(false, true, 13, 13, 7, 0f)]
    [InlineData(false, false, 13, 7, 13, 0.5f)]
    [InlineData(true, false, 7, 13, 13, 0f)]
    [InlineData(true, true, 9, 5, 17, -1f)]
    public void DeviceBatched2DTakesBf16OperandsInAnyCombination(bool ta, bool tb, int m, int n, int k, float beta)
    {
        const int outer = 2, inner = 3, pad = 5;
        const float alpha = 0.7f;
        var rng = new Random(m * 100 + n * 10 + k);
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = inner * aCols, ldb = inner * bCols, ldc = inner * n;
        long sAo = (long)aRows * lda, sBo = (long)bRows * ldb, sCo = (long)m * ldc;
        float[] Data(long len) => Enumerable.Range(0, (int)len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var a = Data(outer * sAo); var b = Data(outer * sBo);
        var c0 = Data(outer * sCo + pad).Select(BFloat16.Round).ToArray(); // bf16 values: the same C in either type
        for (int i = 0; i < pad; i++) c0[outer * sCo + i] = 12288f;         // past the last matrix (exact in bf16): never written

        var want = new double[outer * sCo]; var mag = new double[outer * sCo];
        for (int o = 0; o < outer; o++)
            for (int h = 0; h < inner; h++)
            {
                long oa = o * sAo + h * aCols, ob = o * sBo + h * bCols, oc = o * sCo + h * n;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double acc = 0, abs = 0;
                        for (int p = 0; p < k; p++)
                        {
                            double t = Bf(a[oa + (ta ? p * lda + i : i * lda + p)]) * Bf(b[ob + (tb ? j * ldb + p : p * ldb + j)]);
                            acc += t;
                            abs += Math.Abs(t);
                        }
                        long at = oc + i * ldc + j;
                        double cOld = beta == 0 ? 0 : beta * (double)c0[at];
                        want[at] = alpha * acc + cOld;
                        mag[at] = Math.Abs(alpha) * abs + Math.Abs(cOld);
                    }
            }

        float[]? first = null;
        foreach (var device in new[] { Device.Cpu, Device.Cpu.WithPrecision(Precision.Bf16) })
            for (int combo = 0; combo < 8; combo++)
            {
                bool ha = (combo & 1) != 0, hb = (combo & 2) != 0, hc = (combo & 4) != 0;
                if (!ha && !hb && !hc && device.Precision == Precision.Fp32) continue; // the float32 GEMM
                string what = $"{device.Precision.Name()} a {(ha ? "bf16" : "f32")} b {(hb ? "bf16" : "f32")} c {(hc ? "bf16" : "f32")}";
                var got = Batched2D(device, ha, hb, hc, ta, tb, m, n, k, alpha, a, lda, sAo, aCols, b, ldb, sBo, bCols, beta, c0, ldc, sCo, n, outer, inner);
                for (int i = 0; i < pad; i++) Assert.True(got[outer * sCo + i] == 12288f, $"{what}: wrote past the last matrix");
                if (hc)
                {
                    Assert.NotNull(first); // combos run with a float32 C first
                    for (long i = 0; i < outer * sCo; i++)
                    {
                        Assert.True(BFloat16.Round(first[i]) == got[i], $"{what}: C[{i}] = {got[i]:R}, the float32 result {first[i]:R} rounded is {BFloat16.Round(first[i]):R}");
                        Assert.True(Math.Abs(got[i] - want[i]) <= KT.Bf16Rtol * Math.Abs(want[i]) + (k + 4) * 1.2e-7 * mag[i] + 1e-30,
                            $"{what}: C[{i}] = {got[i]:R}, want {want[i]:R}");
                    }
                    continue;
                }
                for (long i = 0; i < outer * sCo; i++)
                    Assert.True(Math.Abs(got[i] - want[i]) <= (k + 4) * 1.2e-7 * mag[i] + 1e-30, $"{what}: C[{i}] = {got[i]:R}, want {want[i]:R}");
                if (first is null) first = got;
                else Assert.True(first.AsSpan().SequenceEqual(got), $"{what}: differs from the first float32 C");
            }

        // bf16 everywhere: the same bits for any thread count.
        KT.SameBitsForThreadCounts(() =>
            Batched2D(Device.Cpu, true, true, true, ta, tb, m, n, k, alpha, a, lda, sAo, aCols, b, ldb, sBo, bCols, beta, c0, ldc, sCo, n, outer, inner));

        // A type the GEMM does not take.
        var d = Device.Cpu;
        using var ai = d.Allocate(DType.Int32, a.Length); using var bh = d.Allocate(DType.BFloat16, b.Length); using var ch = d.Allocate(DType.BFloat16, c0.Length);
        Assert.ThrowsAny<ArgumentException>(() => d.SgemmBatched2D(ta, tb, m, n, k, alpha, ai, lda, sAo, aCols, bh, ldb, sBo, bCols, beta, ch, ldc, sCo, n, outer, inner));
    }

    // One device SgemmBatched2D with each operand in the type asked for; C comes back widened to float32.
    private static float[] Batched2D(Device d, bool ha, bool hb, bool hc, bool ta, bool tb, int m, int n, int k, float alpha,
        float[] a, int lda, long sAo, long sAi, float[] b, int ldb, long sBo, long sBi, float beta, float[] c, int ldc, long sCo, long sCi,
        int outer, int inner)
    {
        DeviceTensor Upload(float[] x, bool half)
        {
            var t = d.Allocate(half ? DType.BFloat16 : DType.Float32, x.Length);
            if (half) d.CopyToDevice<ushort>(ToBf16(x), t);
            else d.CopyToDevice<float>(x, t);
            return t;
        }
        using var ta_ = Upload(a, ha); using var tb_ = Upload(b, hb); using var tc = Upload(c, hc);
        d.SgemmBatched2D(ta, tb, m, n, k, alpha, ta_, lda, sAo, sAi, tb_, ldb, sBo, sBi, beta, tc, ldc, sCo, sCi, outer, inner);
        if (!hc) return d.ToArray(tc);
        var bits = new ushort[c.Length];
        d.CopyToHost<ushort>(tc, bits);
        return KT.Widen(bits);
    }

    [Fact]
    public void SteadyStateCallsDoNotAllocate()
    {
        var rng = new Random(12);
        int m = 60, n = 50, k = 40;   // below the parallel threshold: stays on this thread
        var a = RandomMatrix(rng, m, k, k);
        var b = RandomMatrix(rng, n, k, k);
        var ah = ToBf16(a);
        var bh = ToBf16(b);
        var ch = new ushort[m * n];
        var c = new float[m * n];
        var batched = new float[4 * m * n];
        foreach (bool fast in HasFast ? new[] { false, true } : new[] { false })
        {
            WithPath(fast, () =>
            {
                void Calls()
                {
                    Gemm.SgemmBf16(false, true, m, n, k, 1f, a, k, b, k, 0.5f, c, n);
                    Gemm.SgemmBf16(true, false, m, n, k, 1f, ah, m, b, n, 0f, c, n);
                    Gemm.SgemmBf16StridedBatched(false, true, m, n, k, 1f, a, k, 0, b, k, 0, 0f, batched, n, m * n, 4);
                    Gemm.SgemmBf16(false, false, m, n, k, 1f, ah, k, bh, n, 1f, ch, n);
                }
                Calls();
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) Calls();
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
                return 0;
            });
        }
    }

    // ---- numerics of the pair step (what Tensors/README.md says) ----

    private static float Dot(bool fast, float[] a, float[] b)
    {
        var c = new float[1];
        WithPath(fast, () => { Gemm.SgemmBf16(false, false, 1, 1, a.Length, 1f, a, a.Length, b, 1, 0f, c, 1); return 0; });
        return c[0];
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void EachPairAddsItsOddProductFirstThenItsEvenProduct(bool fast)
    {
        float tiny = MathF.ScaleB(1f, -30);
        // Pair 0: 1·1 (even) + 0 (odd) → 1. Pair 1: even 2^-30, odd −1: odd first gives (1 − 1) + 2^-30 = 2^-30;
        // even first would give (1 + 2^-30) − 1 = 0; an exact (fused) pair sum would also give 2^-30, so:
        Assert.Equal(tiny, Dot(fast, [1f, 0f, tiny, -1f], [1f, 0f, 1f, 1f]));
        // Each step rounds (not fused): 1 + 2^-24 + 2^-24 → 1 (an exact pair sum would give 1 + 2^-23).
        float h = MathF.ScaleB(1f, -12);
        Assert.Equal(1f, Dot(fast, [1f, 0f, h, h], [1f, 0f, h, h]));
        // Odd k: the last pair's missing odd half is zero.
        Assert.Equal(7f, Dot(fast, [1f, 2f, 3f], [2f, 1f, 1f]));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void DenormalInputsAreFlushed(bool fast)
    {
        // bf16 denormal inputs count as zero on both paths (vdpbf16ps's DAZ; the fallback flushes while packing).
        float denormal = MathF.ScaleB(1f, -130);
        Assert.Equal(0f, Dot(fast, [denormal, 0f], [MathF.ScaleB(1f, 100), 0f]));
        // A denormal result: vdpbf16ps flushes it to zero (FTZ), the fallback's float32 fma keeps it.
        float r = Dot(fast, [MathF.ScaleB(1f, -70), 0f], [MathF.ScaleB(1f, -70), 0f]);
        Assert.Equal(fast ? 0f : MathF.ScaleB(1f, -140), r);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void NaNAndInfinityPropagate(bool fast)
    {
        Assert.True(float.IsNaN(Dot(fast, [float.NaN, 1f], [1f, 1f])));
        Assert.True(float.IsNaN(Dot(fast, [float.PositiveInfinity, 1f], [0f, 1f])));
        Assert.Equal(float.PositiveInfinity, Dot(fast, [float.PositiveInfinity, 1f], [2f, 1f]));
        Assert.Equal(float.NegativeInfinity, Dot(fast, [3e38f, 3e38f], [-10f, -10f]));
    }

    // ---- conversions ----

    [Theory]
    [InlineData(0x3F800000u, (ushort)0x3F80)]   // 1
    [InlineData(0x3F808000u, (ushort)0x3F80)]   // tie, even below
    [InlineData(0x3F818000u, (ushort)0x3F82)]   // tie, even above
    [InlineData(0x3F808001u, (ushort)0x3F81)]   // above the tie
    [InlineData(0x3F807FFFu, (ushort)0x3F80)]   // below the tie
    [InlineData(0xBF818000u, (ushort)0xBF82)]   // negative tie
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)]   // float max rounds to infinity
    [InlineData(0x7F800000u, (ushort)0x7F80)]   // +inf
    [InlineData(0xFF800000u, (ushort)0xFF80)]   // -inf
    [InlineData(0x7F800001u, (ushort)0x7FC0)]   // signalling NaN with a low payload: quiet, not infinity
    [InlineData(0xFFA00000u, (ushort)0xFFE0)]   // negative NaN: sign and payload kept, quieted
    [InlineData(0x7FC00000u, (ushort)0x7FC0)]
    [InlineData(0x00008000u, (ushort)0x0000)]   // denormal tie to even (zero)
    [InlineData(0x00018000u, (ushort)0x0002)]   // denormal tie to even (up)
    [InlineData(0x807FFFFFu, (ushort)0x8080)]   // largest negative denormal rounds to −2^-126
    [InlineData(0x80000000u, (ushort)0x8000)]   // −0
    public void ConversionRoundsToNearestEven(uint bits, ushort expected)
    {
        float f = BitConverter.UInt32BitsToSingle(bits);
        Assert.Equal(expected, BFloat16.FromSingle(f));
        // The span (vectorised) form agrees, in a vector body and in a tail.
        var src = Enumerable.Repeat(f, 37).ToArray();
        var dst = new ushort[37];
        BFloat16.FromSingle(src, dst);
        Assert.All(dst, h => Assert.Equal(expected, h));
        if (!float.IsNaN(f)) Assert.Equal(BFloat16.ToSingle(expected), BFloat16.Round(f));
    }

    [Fact]
    public void SpanConversionsMatchScalarOnRandomBits()
    {
        var rng = new Random(5);
        foreach (int n in new[] { 0, 1, 15, 16, 17, 100, 1000 })
        {
            var src = new float[n];
            for (int i = 0; i < n; i++) src[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32));
            var h = new ushort[n];
            BFloat16.FromSingle(src, h);
            var back = new float[n];
            BFloat16.ToSingle(h, back);
            var rounded = (float[])src.Clone();
            BFloat16.Round(rounded);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BFloat16.FromSingle(src[i]), h[i]);
                Assert.Equal((uint)h[i] << 16, BitConverter.SingleToUInt32Bits(back[i]));
                Assert.Equal((uint)h[i] << 16, BitConverter.SingleToUInt32Bits(rounded[i]));
            }
        }
        // Every bf16 value round-trips (NaNs stay NaN).
        for (int h = 0; h < 65536; h++)
        {
            float f = BFloat16.ToSingle((ushort)h);
            if (float.IsNaN(f)) Assert.True(float.IsNaN(BFloat16.ToSingle(BFloat16.FromSingle(f))));
            else Assert.Equal((ushort)h, BFloat16.FromSingle(f));
        }
        Assert.Throws<ArgumentException>(() => BFloat16.FromSingle(new float[3], new ushort[2]));
    }

    // ---- the run-time assembler ----

    internal static string? FindAs()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, "as")) && File.Exists(Path.Combine(dir, "objcopy"))) return Path.Combine(dir, "as");
        return null;
    }

    private static byte[] Assemble(string listing)
    {
        string dir = Directory.CreateTempSubdirectory("bertsharp-as").FullName;
        try
        {
            string s = Path.Combine(dir, "k.s"), o = Path.Combine(dir, "k.o"), bin = Path.Combine(dir, "k.bin");
            File.WriteAllText(s, ".intel_syntax noprefix\n" + listing);
            Run(FindAs()!, $"-o {o} {s}");
            Run(Path.Combine(Path.GetDirectoryName(FindAs())!, "objcopy"), $"-O binary -j .text {o} {bin}");
            return File.ReadAllBytes(bin);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static void Run(string exe, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(exe, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{exe} {args}: {err}");
    }

    [NeedsGnuAsFact]
    public void GeneratedKernelsAssembleToTheSameBytesAsGnuAs()
    {
        foreach (var (mr, nv) in new[] { (12, 2), (8, 3), (10, 2), (6, 4), (1, 1) })
            foreach (bool beta in new[] { false, true })
            foreach (bool bcstReg in new[] { false, true })
            foreach (int unroll in new[] { 1, 2 })
            {
                var x = GemmBf16Kernel.Generate(mr, nv, beta, bcstReg, unroll);
                var want = Assemble(x.Listing.ToString());
                Assert.True(want.AsSpan().SequenceEqual(x.Code),
                    $"{mr}x{16 * nv} beta={beta}: ours {Convert.ToHexString(x.Code)}\nas   {Convert.ToHexString(want)}");
            }
    }

    [NeedsGnuAsFact]
    public void AssemblerEncodingsMatchGnuAs()
    {
        var x = new X64Assembler();
        int[] regs = [0, 7, 8, 15, 16, 23, 24, 31];
        foreach (int d in regs)
            foreach (int s in regs)
            {
                x.Vdpbf16ps(d, s, regs[(d + s) % regs.Length]);
                x.Vpxord(d, s, d);
                x.Vmulps(d, s, 31 - d);
            }
        foreach (int r in regs)
            foreach (int bas in new[] { X64Assembler.Rax, X64Assembler.Rcx, X64Assembler.Rsi, X64Assembler.Rdx, X64Assembler.R8, X64Assembler.R9 })
                foreach (int disp in new[] { 0, 4, 64, 508, 512, -4, -64, 4096, 100, -8192, 8128 })
                {
                    x.Vdpbf16psBcst(r, 31 - r, new(bas, disp));
                    x.VmovupsLoad(r, new(bas, disp));
                    x.VmovupsStore(new(bas, disp), r);
                    x.Vfmadd231ps(r, 31 - r, new(bas, disp));
                    x.Prefetcht0(new(bas, disp));
                }
        for (int r = 0; r < 16; r++) x.Vbroadcastss(31 - r, r);
        foreach (int r in regs) x.VpbroadcastdLoad(r, new(X64Assembler.Rsi, 4 * r));
        foreach (int r in new[] { 0, 1, 2, 6, 7, 8, 9 })
        {
            x.AddImm(r, 48); x.AddImm(r, 128); x.AddImm(r, -4);
            x.Add(r, X64Assembler.R8); x.Add(X64Assembler.R9, r); x.Mov(r, X64Assembler.Rcx); x.Mov(X64Assembler.R8, r);
            x.Shl(r, 2); x.Test32(r, r); x.Dec32(r);
            x.Mov32(r, X64Assembler.Rdi); x.Mov32(X64Assembler.R9, r); x.Shr32(r, 1); x.Shr32(r, 3); x.AndImm32(r, 1);
        }
        Assert.Equal(Convert.ToHexString(Assemble(x.Listing.ToString())), Convert.ToHexString(x.Code));
    }
}
