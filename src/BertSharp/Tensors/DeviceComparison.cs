
namespace BertSharp.Tensors;

/// <summary>
/// Runs every <see cref="Device"/> kernel on two devices with the same random inputs of awkward shapes (odd sizes,
/// an unaligned dropout offset, repeated embedding ids, a vocabulary-wide cross-entropy, attention's batched GEMM
/// layout) and reports each kernel's largest error: how a CUDA device is checked against the CPU. Every kernel is
/// reported, not only the first failure.
/// <para>Every kernel that takes activations runs twice: on Float32 and on BFloat16 activations (the check's name ends
/// in <c>/bf16</c>), and the matrix products on bf16 operands and results. In bf16 each device computes in float32 and
/// rounds its own float32 result, so the devices differ only where their float32 values (which differ by summation
/// order alone, within the float32 tolerance) straddle a rounding boundary: one bf16 ulp, and the check allows
/// <see cref="Bf16Ulps"/> (2) on top of the float32 tolerance for outputs stored in bf16; outputs kept in float32
/// (statistics, parameter gradients) get the float32 tolerance. Kernels whose float32 results agree bit for bit (add,
/// dropout, embedding gather) must agree bit for bit in bf16 too, and so must <see cref="Device.Cast"/> both ways, on
/// ties, NaN, infinities, denormals and values that round to infinity.</para>
/// </summary>
public static class DeviceComparison
{
    /// <summary>bf16 ulps allowed for an output stored in bfloat16, on top of the float32 tolerance: 1 where the two
    /// devices' float32 values straddle a rounding boundary, and one more of margin.</summary>
    public const double Bf16Ulps = 2;

    // One output of a check: the reference's and the candidate's values (bf16 ones widened), and whether it is stored in
    // bf16 (then Bf16Ulps apply).
    private readonly record struct Output(float[] R, float[] C, bool Bf16)
    {
        public static implicit operator Output((float[] R, float[] C) o) => new(o.R, o.C, false);
    }

    private sealed class Pair(Device r, Device c, DeviceTensor a, DeviceTensor b) : IDisposable
    {
        public readonly DeviceTensor R = a, C = b;
        public float[] RF() => r.ToArray(R); // bf16 widened exactly
        public float[] CF() => c.ToArray(C);
        public Output Out() => new(RF(), CF(), R.Type == DType.BFloat16);
        public ushort[] RH() { var x = new ushort[R.Length]; r.CopyToHost<ushort>(R, x); return x; }
        public ushort[] CH() { var x = new ushort[C.Length]; c.CopyToHost<ushort>(C, x); return x; }
        public int[] RI() { var x = new int[R.Length]; r.CopyToHost<int>(R, x); return x; }
        public int[] CI() { var x = new int[C.Length]; c.CopyToHost<int>(C, x); return x; }
        public void Dispose() { R.Dispose(); C.Dispose(); }
    }

    // One bf16 ulp at |v| (the spacing of bfloat16 values there; denormals: 2⁻¹³³).
    private static double Bf16Ulp(float v)
    {
        float a = Math.Abs(v);
        if (!float.IsFinite(a)) return 0;
        int e = a < 1.17549435e-38f ? -126 : Math.ILogB(a); // below the smallest normal: the denormals' spacing
        return Math.ScaleB(1.0, e - 7);
    }

    /// <summary>Compares <paramref name="candidate"/> with <paramref name="reference"/> kernel by kernel.</summary>
    /// <param name="reference">Usually the CPU device.</param>
    /// <param name="candidate">The device under test.</param>
    /// <param name="seed">Seed of the random inputs.</param>
    /// <param name="fp32Tolerance">Allowed error of float kernels relative to max(1, |reference|).</param>
    public static IReadOnlyList<KernelError> Run(Device reference, Device candidate, int seed = 1, double fp32Tolerance = 2e-5)
    {
        var results = new List<KernelError>();
        var rng = new Random(seed);
        float[] Rand(int n, float scale = 1f) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale; return a; }
        Pair F(float[] data)
        {
            var p = new Pair(reference, candidate, reference.Allocate(DType.Float32, data.Length), candidate.Allocate(DType.Float32, data.Length));
            reference.CopyToDevice<float>(data, p.R);
            candidate.CopyToDevice<float>(data, p.C);
            return p;
        }
        // Activations: Float32, or BFloat16 holding the values rounded (the same bits on both devices).
        Pair H(float[] data)
        {
            var bits = data.Select(BFloat16.FromSingle).ToArray();
            var p = new Pair(reference, candidate, reference.Allocate(DType.BFloat16, data.Length), candidate.Allocate(DType.BFloat16, data.Length));
            reference.CopyToDevice<ushort>(bits, p.R);
            candidate.CopyToDevice<ushort>(bits, p.C);
            return p;
        }
        Pair Ii(int[] data)
        {
            var p = new Pair(reference, candidate, reference.Allocate(DType.Int32, data.Length), candidate.Allocate(DType.Int32, data.Length));
            reference.CopyToDevice<int>(data, p.R);
            candidate.CopyToDevice<int>(data, p.C);
            return p;
        }
        void Check(string kernel, string shape, double tol, Func<IEnumerable<Output>> body, double ulps = Bf16Ulps)
        {
            bool anyBf16 = false;
            try
            {
                double maxAbs = 0, maxRel = 0;
                bool ok = true;
                foreach (var (r, c, bf16) in body())
                {
                    anyBf16 |= bf16;
                    if (r.Length != c.Length) throw new InvalidOperationException($"lengths {r.Length} and {c.Length}");
                    for (int i = 0; i < r.Length; i++)
                    {
                        double d = Math.Abs((double)c[i] - r[i]);
                        if (float.IsNaN(r[i]) && float.IsNaN(c[i])) d = 0;
                        else if (float.IsNaN(r[i]) != float.IsNaN(c[i]) || (double.IsInfinity(r[i]) && r[i] != c[i])) d = double.PositiveInfinity;
                        else if (double.IsNaN(d)) d = 0;
                        maxAbs = Math.Max(maxAbs, d);
                        maxRel = Math.Max(maxRel, d / Math.Max(Math.Abs(r[i]), 1e-3));
                        if (d > tol * Math.Max(1, Math.Abs(r[i])) + (bf16 ? ulps * Bf16Ulp(r[i]) : 0)) ok = false;
                    }
                }
                results.Add(new KernelError(kernel, shape, maxAbs, maxRel, tol, ok, null, anyBf16 ? ulps : 0));
            }
            catch (Exception e)
            {
                results.Add(new KernelError(kernel, shape, double.NaN, double.NaN, tol, false, $"{e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}",
                    kernel.EndsWith("/bf16", StringComparison.Ordinal) ? ulps : 0));
            }
        }
        // A check of the kernel's Float32 activations, then of its BFloat16 ones (named .../bf16).
        void Both(string kernel, string shape, double tol, Func<Func<float[], Pair>, IEnumerable<Output>> body, double ulps = Bf16Ulps)
        {
            Check(kernel, shape, tol, () => body(F), ulps);
            Check(kernel + "/bf16", shape, tol, () => body(H), ulps);
        }
        static float[] I2F(int[] a) => a.Select(x => (float)x).ToArray();
        double tol = fp32Tolerance;

        // GEMM: every transpose combination, odd sizes, padded leading dimensions, beta 0 and 1.
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            int m = 67, n = 45, k = 129, lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
            float beta = ta ? 1f : 0f;
            Check($"Sgemm(transA={ta},transB={tb},beta={beta})", $"{m}x{n}x{k}", tol * 10, () =>
            {
                using var a = F(Rand((ta ? k : m) * lda)); using var b = F(Rand((tb ? n : k) * ldb)); using var c = F(Rand(m * ldc));
                reference.Sgemm(ta, tb, m, n, k, 0.75f, a.R, lda, b.R, ldb, beta, c.R, ldc);
                candidate.Sgemm(ta, tb, m, n, k, 0.75f, a.C, lda, b.C, ldb, beta, c.C, ldc);
                return [(c.RF(), c.CF())];
            });
        }
        // Attention's layout: Q·Kᵀ and P·V straight from [B, T, 3H] with head h at column h·D.
        {
            int bsz = 3, heads = 4, t = 19, d = 16, h = heads * d;
            Both("SgemmBatched2D(Q·Kᵀ, attention layout)", $"B{bsz} NH{heads} T{t} D{d}", tol * 10, A =>
            {
                using var qkv = A(Rand(bsz * t * 3 * h)); using var s = A(Rand(bsz * heads * t * t));
                foreach (var dev in new[] { (reference, qkv.R, s.R), (candidate, qkv.C, s.C) })
                    dev.Item1.SgemmBatched2D(false, true, t, t, d, 0.25f, dev.Item2, 3 * h, (long)t * 3 * h, d,
                        dev.Item2.View(h, dev.Item2.Length - h), 3 * h, (long)t * 3 * h, d, 0f, dev.Item3, t, (long)heads * t * t, (long)t * t, bsz, heads);
                return [s.Out()];
            });
            Both("SgemmBatched2D(P·V, attention layout)", $"B{bsz} NH{heads} T{t} D{d}", tol * 10, A =>
            {
                using var p = A(Rand(bsz * heads * t * t)); using var qkv = A(Rand(bsz * t * 3 * h)); using var ctx = A(Rand(bsz * t * h));
                foreach (var dev in new[] { (reference, p.R, qkv.R, ctx.R), (candidate, p.C, qkv.C, ctx.C) })
                    dev.Item1.SgemmBatched2D(false, false, t, d, t, 1f, dev.Item2, t, (long)heads * t * t, (long)t * t,
                        dev.Item3.View(2 * h, dev.Item3.Length - 2 * h), 3 * h, (long)t * 3 * h, d, 0f, dev.Item4, h, (long)t * h, d, bsz, heads);
                return [ctx.Out()];
            });
            // In bf16: A and C bf16, B float32 (rounded to bf16 for the product).
            Both("SgemmBatched2D(strided, collapsible)", "8 x 13x11x7", tol * 10, A =>
            {
                using var a = A(Rand(8 * 13 * 7)); using var b = F(Rand(8 * 7 * 11)); using var c = A(Rand(8 * 13 * 11));
                reference.SgemmBatched2D(false, false, 13, 11, 7, 1f, a.R, 7, 4 * 91, 91, b.R, 11, 4 * 77, 77, 0f, c.R, 11, 4 * 143, 143, 2, 4);
                candidate.SgemmBatched2D(false, false, 13, 11, 7, 1f, a.C, 7, 4 * 91, 91, b.C, 11, 4 * 77, 77, 0f, c.C, 11, 4 * 143, 143, 2, 4);
                return [c.Out()];
            });
        }
        // Products on bf16 storage in any precision (bf16 activations): each of A, B, C Float32 or BFloat16; a float32
        // A or B beside a bf16 operand is rounded to bf16, products exact, sums in float32, C rounded once.
        foreach (var (ta, tb, ha, hb, hc, beta) in new[]
        {
            (false, false, true, false, false, 0f), (false, true, false, true, true, 1f), (true, false, true, true, false, 1f),
            (true, true, true, true, true, 0f), (false, false, false, false, true, 1f),
        })
        {
            int m = 67, n = 45, k = 129, lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
            string types = $"{(ha ? "bf16" : "f32")},{(hb ? "bf16" : "f32")},{(hc ? "bf16" : "f32")}";
            Check($"Sgemm(transA={ta},transB={tb},beta={beta},{types})/bf16", $"{m}x{n}x{k}", tol * 10, () =>
            {
                Pair Of(bool bf16, float[] data) => bf16 ? H(data) : F(data);
                using var a = Of(ha, Rand((ta ? k : m) * lda)); using var b = Of(hb, Rand((tb ? n : k) * ldb)); using var c = Of(hc, Rand(m * ldc));
                reference.Sgemm(ta, tb, m, n, k, 0.75f, a.R, lda, b.R, ldb, beta, c.R, ldc);
                candidate.Sgemm(ta, tb, m, n, k, 0.75f, a.C, lda, b.C, ldb, beta, c.C, ldc);
                return [c.Out()];
            });
        }
        // Casts: bit for bit both ways. Float32 → BFloat16 on ties (to even, both directions), values just either side
        // of a tie, NaN (quiet, signalling, negative: kept NaN, made quiet), ±inf, ±0, denormals (a tie among them), the
        // largest floats (rounding to infinity) and random bit patterns; BFloat16 → Float32 on all 65,536 patterns.
        {
            uint[] special =
            [
                0x00000000, 0x80000000, 0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0xBF818000, 0xC0018000,
                0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFC00001, 0x7FFFFFFF, 0xFF800001,
                0x00000001, 0x00008000, 0x00018000, 0x00007FFF, 0x807FFFFF, 0x007FFFFF, 0x00800000, 0x80008000,
                0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000, 0x7F7E8000, 0xFF7FFFFF, 0x4B800000, 0x4B808000,
            ];
            var bits = special.Concat(Enumerable.Range(0, 4096).Select(_ => ((uint)rng.Next() << 1) ^ (uint)rng.Next())).ToArray();
            Check("Cast(Float32→BFloat16)", $"{special.Length} special + 4096 random", 0, () =>
            {
                using var x = F(bits.Select(BitConverter.UInt32BitsToSingle).ToArray()); using var h = H(new float[bits.Length]);
                reference.Cast(x.R, h.R); candidate.Cast(x.C, h.C);
                return [(h.RH().Select(v => (float)v).ToArray(), h.CH().Select(v => (float)v).ToArray())];
            });
            Check("Cast(BFloat16→Float32)", "65536 bit patterns", 0, () =>
            {
                var all = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
                using var h = H(new float[all.Length]); using var x = F(new float[all.Length]);
                reference.CopyToDevice<ushort>(all, h.R); candidate.CopyToDevice<ushort>(all, h.C);
                reference.Cast(h.R, x.R); candidate.Cast(h.C, x.C);
                static float[] High(float[] v) => v.Select(f => (float)(BitConverter.SingleToUInt32Bits(f) >> 16)).ToArray();
                static float[] Low(float[] v) => v.Select(f => (float)(BitConverter.SingleToUInt32Bits(f) & 0xFFFF)).ToArray();
                float[] r = x.RF(), c = x.CF();
                return [(High(r), High(c)), (Low(r), Low(c))];
            });
        }

        const int rows = 37, cols = 301;
        string rc = $"{rows}x{cols}";
        Both("BiasAdd", rc, tol, A =>
        {
            using var y = A(Rand(rows * cols)); using var b = F(Rand(cols));
            reference.BiasAdd(y.R, rows, cols, b.R); candidate.BiasAdd(y.C, rows, cols, b.C);
            return [y.Out()];
        });
        Both("BiasBackward", rc, tol, A =>
        {
            using var dy = A(Rand(rows * cols)); using var db = F(Rand(cols));
            reference.BiasBackward(dy.R, rows, cols, db.R); candidate.BiasBackward(dy.C, rows, cols, db.C);
            return [db.Out()];
        });
        foreach (bool approx in new[] { false, true })
        {
            Both($"Gelu(tanh={approx})", "10007", tol, A =>
            {
                using var x = A(Rand(10007, 6f)); using var y = A(new float[10007]);
                reference.Gelu(x.R, y.R, approx); candidate.Gelu(x.C, y.C, approx);
                return [y.Out()];
            });
            Both($"GeluBackward(tanh={approx})", "10007", tol, A =>
            {
                using var x = A(Rand(10007, 6f)); using var dy = A(Rand(10007)); using var dx = A(new float[10007]);
                reference.GeluBackward(x.R, dy.R, dx.R, approx); candidate.GeluBackward(x.C, dy.C, dx.C, approx);
                return [dx.Out()];
            });
        }
        Both("Tanh", "10007", tol, A =>
        {
            using var x = A(Rand(10007, 5f)); using var y = A(new float[10007]);
            reference.Tanh(x.R, y.R); candidate.Tanh(x.C, y.C);
            return [y.Out()];
        });
        Both("TanhBackward", "10007", tol, A =>
        {
            using var y = A(Rand(10007)); using var dy = A(Rand(10007)); using var dx = A(new float[10007]);
            reference.TanhBackward(y.R, dy.R, dx.R); candidate.TanhBackward(y.C, dy.C, dx.C);
            return [dx.Out()];
        });
        Both("Add", "10007", 0, A =>
        {
            using var y = A(Rand(10007)); using var x = A(Rand(10007));
            reference.Add(y.R, x.R); candidate.Add(y.C, x.C);
            return [y.Out()];
        }, ulps: 0);
        Both("LayerNormForward", rc, tol * 5, A =>
        {
            using var x = A(Rand(rows * cols, 3f)); using var g = F(Rand(cols)); using var b = F(Rand(cols));
            using var y = A(new float[rows * cols]); using var mu = F(new float[rows]); using var rs = F(new float[rows]);
            reference.LayerNormForward(x.R, rows, cols, g.R, b.R, 1e-12f, y.R, mu.R, rs.R);
            candidate.LayerNormForward(x.C, rows, cols, g.C, b.C, 1e-12f, y.C, mu.C, rs.C);
            return [y.Out(), mu.Out(), rs.Out()];
        });
        Both("LayerNormBackward", rc, tol * 10, A =>
        {
            using var x = A(Rand(rows * cols, 3f)); using var g = F(Rand(cols)); using var b = F(Rand(cols));
            using var y = A(new float[rows * cols]); using var mu = F(new float[rows]); using var rs = F(new float[rows]);
            reference.LayerNormForward(x.R, rows, cols, g.R, b.R, 1e-12f, y.R, mu.R, rs.R);
            candidate.LayerNormForward(x.C, rows, cols, g.C, b.C, 1e-12f, y.C, mu.C, rs.C);
            using var dy = A(Rand(rows * cols)); using var dx = A(new float[rows * cols]);
            using var dg = F(Rand(cols)); using var db = F(Rand(cols));
            reference.LayerNormBackward(dy.R, x.R, mu.R, rs.R, g.R, rows, cols, dx.R, dg.R, db.R);
            candidate.LayerNormBackward(dy.C, x.C, mu.C, rs.C, g.C, rows, cols, dx.C, dg.C, db.C);
            return [dx.Out(), dg.Out(), db.Out()];
        });
        {
            int batch = 3, perBatch = 2 * 19, t = 19;
            Both("SoftmaxForward(mask)", $"{batch}x{perBatch}x{t}", tol, A =>
            {
                using var x = A(Rand(batch * perBatch * t, 4f)); using var y = A(new float[batch * perBatch * t]);
                var maskData = new float[batch * t];
                for (int i = 0; i < maskData.Length; i++) maskData[i] = i % t > t - 1 - i / t * 3 ? -10000f : 0f;
                using var mask = F(maskData);
                reference.SoftmaxForward(x.R, y.R, batch, perBatch, t, 0.25f, mask.R);
                candidate.SoftmaxForward(x.C, y.C, batch, perBatch, t, 0.25f, mask.C);
                return [y.Out()];
            });
            Both("SoftmaxBackward", $"{batch * perBatch}x{t}", tol, A =>
            {
                var yd = Rand(batch * perBatch * t).Select(v => Math.Abs(v) / t).ToArray();
                using var y = A(yd); using var dy = A(Rand(yd.Length)); using var dx = A(new float[yd.Length]);
                reference.SoftmaxBackward(y.R, dy.R, dx.R, batch * perBatch, t, 0.25f);
                candidate.SoftmaxBackward(y.C, dy.C, dx.C, batch * perBatch, t, 0.25f);
                return [dx.Out()];
            });
        }
        foreach (long offset in new long[] { 0, 6 })
            Both($"Dropout(offset={offset})", "1003, p 0.1", 0, A =>
            {
                using var x = A(Rand(1003)); using var y = A(new float[1003]); using var dx = A(new float[1003]);
                reference.DropoutForward(x.R, y.R, 0.1f, 0x123456789UL, 77, 5, offset);
                candidate.DropoutForward(x.C, y.C, 0.1f, 0x123456789UL, 77, 5, offset);
                reference.DropoutBackward(x.R, dx.R, 0.3f, 42, (1UL << 33) + 3, 9, offset);
                candidate.DropoutBackward(x.C, dx.C, 0.3f, 42, (1UL << 33) + 3, 9, offset);
                return [y.Out(), dx.Out()];
            }, ulps: 0);
        {
            int vocab = 97, dim = 45, count = 61;
            var idsData = Enumerable.Range(0, count).Select(_ => rng.Next(vocab / 4)).ToArray(); // many repeats
            foreach (bool acc in new[] { false, true })
                Both($"EmbeddingForward(accumulate={acc})", $"{count} ids, {vocab}x{dim}", 0, A =>
                {
                    using var ids = Ii(idsData); using var table = F(Rand(vocab * dim)); using var o = A(Rand(count * dim));
                    reference.EmbeddingForward(ids.R, table.R, dim, o.R, acc); candidate.EmbeddingForward(ids.C, table.C, dim, o.C, acc);
                    return [o.Out()];
                }, ulps: 0);
            // A device may add an id's rows in chunks (in a fixed order) rather than one by one: float32 tolerance.
            Both("EmbeddingBackward", $"{count} ids, {vocab}x{dim}", tol, A =>
            {
                using var ids = Ii(idsData); using var dout = A(Rand(count * dim)); using var dt = F(Rand(vocab * dim));
                reference.EmbeddingBackward(ids.R, dout.R, dim, dt.R); candidate.EmbeddingBackward(ids.C, dout.C, dim, dt.C);
                return [dt.Out()];
            });
            // The model's gather of activation rows and the scatter-add of their gradients: bf16 table, bf16 rows.
            Check("EmbeddingForward(gather rows)/bf16", $"{count} ids, {vocab}x{dim}", 0, () =>
            {
                using var ids = Ii(idsData); using var table = H(Rand(vocab * dim)); using var o = H(Rand(count * dim));
                reference.EmbeddingForward(ids.R, table.R, dim, o.R, false); candidate.EmbeddingForward(ids.C, table.C, dim, o.C, false);
                return [o.Out()];
            }, ulps: 0);
            // Into bf16 rows each add is rounded, in position order (repeated ids here): the same float32 additions and
            // roundings on both devices, so bit for bit.
            Check("EmbeddingBackward(scatter rows)/bf16", $"{count} ids, {vocab}x{dim}", 0, () =>
            {
                using var ids = Ii(idsData); using var dout = H(Rand(count * dim)); using var dt = H(Rand(vocab * dim));
                reference.EmbeddingBackward(ids.R, dout.R, dim, dt.R); candidate.EmbeddingBackward(ids.C, dout.C, dim, dt.C);
                return [dt.Out()];
            }, ulps: 0);
            // Token types: two ids over many positions (long chains across chunks), and an id absent from the batch.
            var typeIds = Enumerable.Range(0, 1500).Select(i => i % 7 < 4 ? 0 : 1).ToArray();
            Both("EmbeddingBackward(token types)", "1500 ids, 3x33", tol, A =>
            {
                using var ids = Ii(typeIds); using var dout = A(Rand(1500 * 33)); using var dt = F(Rand(3 * 33));
                reference.EmbeddingBackward(ids.R, dout.R, 33, dt.R); candidate.EmbeddingBackward(ids.C, dout.C, 33, dt.C);
                return [dt.Out()];
            });
        }
        Both("BiasBackward(many row chunks)", "2500x67", tol, A =>
        {
            using var dy = A(Rand(2500 * 67)); using var db = F(Rand(67));
            reference.BiasBackward(dy.R, 2500, 67, db.R); candidate.BiasBackward(dy.C, 2500, 67, db.C);
            return [db.Out()];
        });
        {
            int r = 29, v = 30522, ignore = -100;
            var targetData = Enumerable.Range(0, r).Select(i => i % 5 == 3 ? ignore : rng.Next(v)).ToArray();
            string shape = $"{r}x{v}";
            Both("CrossEntropyForward/Backward", shape, tol * 5, A =>
            {
                using var logits = A(Rand(r * v, 8f)); using var t = Ii(targetData);
                using var loss = F(new float[r]); using var lse = F(new float[r]); using var am = Ii(new int[r]); using var dl = A(new float[r * v]);
                reference.CrossEntropyForward(logits.R, r, v, t.R, ignore, loss.R, lse.R, am.R);
                candidate.CrossEntropyForward(logits.C, r, v, t.C, ignore, loss.C, lse.C, am.C);
                reference.CrossEntropyBackward(logits.R, lse.R, t.R, ignore, r, v, 0.5f, dl.R);
                candidate.CrossEntropyBackward(logits.C, lse.C, t.C, ignore, r, v, 0.5f, dl.C);
                return [loss.Out(), lse.Out(), (I2F(am.RI()), I2F(am.CI())), dl.Out()];
            });
            Both("BiasCrossEntropyForward/Backward", shape, tol * 5, A =>
            {
                using var logits = A(Rand(r * v, 8f)); using var bias = F(Rand(v)); using var t = Ii(targetData);
                using var loss = F(new float[r]); using var lse = F(new float[r]); using var am = Ii(new int[r]); using var db = F(Rand(v));
                reference.BiasCrossEntropyForward(logits.R, bias.R, r, v, t.R, ignore, loss.R, lse.R, am.R);
                candidate.BiasCrossEntropyForward(logits.C, bias.C, r, v, t.C, ignore, loss.C, lse.C, am.C);
                var fwd = logits.Out();
                using var sr = reference.Allocate(DType.Float32, Math.Max(1, reference.BiasCrossEntropyScratch(r, v)));
                using var sc = candidate.Allocate(DType.Float32, Math.Max(1, candidate.BiasCrossEntropyScratch(r, v)));
                reference.BiasCrossEntropyBackward(logits.R, lse.R, t.R, ignore, r, v, 0.5f, db.R, sr);
                candidate.BiasCrossEntropyBackward(logits.C, lse.C, t.C, ignore, r, v, 0.5f, db.C, sc);
                return [fwd, loss.Out(), lse.Out(), (I2F(am.RI()), I2F(am.CI())), logits.Out(), db.Out()];
            });
            Check("LossStatistics", $"{r}", 1e-6, () =>
            {
                using var loss = F(Rand(r).Select(Math.Abs).ToArray()); using var t = Ii(targetData);
                using var am = Ii(targetData.Select((x, i) => i % 2 == 0 ? x : 7).ToArray()); using var st = F(new float[3]);
                reference.LossStatistics(loss.R, am.R, t.R, ignore, st.R); candidate.LossStatistics(loss.C, am.C, t.C, ignore, st.C);
                return [(st.RF(), st.CF())];
            });
        }
        // Distillation: the soft-target loss over vocabulary-wide rows (Float32 logits only) and over short rows at a low
        // temperature, then the cosine loss on hidden states (activations). Zero weights leave rows out; the backward runs
        // once overwriting and once accumulating into random values. Gradients are scaled up to O(1) so that the
        // tolerance, relative to max(1, |reference|), bites.
        foreach (var (r, v, temperature, logitScale, scale) in new[] { (29, 30522, 2f, 8f, 4096f), (37, 301, 0.5f, 80f, 16f) })
            Check($"SoftTargetForward/Backward(T={temperature})", $"{r}x{v}", tol * 5, () =>
            {
                var wData = Enumerable.Range(0, r).Select(i => i % 5 == 3 ? 0f : 0.25f + (i % 3)).ToArray();
                using var s = F(Rand(r * v, logitScale)); using var t = F(Rand(r * v, logitScale)); using var w = F(wData);
                using var loss = F(new float[r]); using var ds = F(new float[r * v]); using var acc = F(Rand(r * v));
                reference.SoftTargetForward(s.R, t.R, w.R, r, v, temperature, loss.R);
                candidate.SoftTargetForward(s.C, t.C, w.C, r, v, temperature, loss.C);
                reference.SoftTargetBackward(s.R, t.R, w.R, r, v, temperature, scale, ds.R, false);
                candidate.SoftTargetBackward(s.C, t.C, w.C, r, v, temperature, scale, ds.C, false);
                reference.SoftTargetBackward(s.R, t.R, w.R, r, v, temperature, scale, acc.R, true);
                candidate.SoftTargetBackward(s.C, t.C, w.C, r, v, temperature, scale, acc.C, true);
                return [loss.Out(), ds.Out(), acc.Out()];
            });
        Both("CosineForward/Backward", rc, tol * 5, A =>
        {
            var wData = Enumerable.Range(0, rows).Select(i => i % 4 == 1 ? 0f : 0.5f + (i % 3)).ToArray();
            using var a = A(Rand(rows * cols, 3f)); using var b = A(Rand(rows * cols)); using var w = F(wData);
            using var loss = F(new float[rows]); using var da = A(new float[rows * cols]); using var acc = A(Rand(rows * cols));
            reference.CosineForward(a.R, b.R, w.R, rows, cols, loss.R); candidate.CosineForward(a.C, b.C, w.C, rows, cols, loss.C);
            reference.CosineBackward(a.R, b.R, w.R, rows, cols, 64f, da.R, false); candidate.CosineBackward(a.C, b.C, w.C, rows, cols, 64f, da.C, false);
            reference.CosineBackward(a.R, b.R, w.R, rows, cols, 64f, acc.R, true); candidate.CosineBackward(a.C, b.C, w.C, rows, cols, 64f, acc.C, true);
            return [loss.Out(), da.Out(), acc.Out()];
        });
        Check("AdamWStep", "100003, 3 steps", tol, () =>
        {
            using var p = F(Rand(100003)); using var m = F(new float[100003]); using var v = F(new float[100003]);
            for (int step = 1; step <= 3; step++)
            {
                using var g = F(Rand(100003));
                var hp = new AdamWParams(1e-3f, 0.9f, 0.999f, 1e-6f, 0.01f, step, 0.5f);
                reference.AdamWStep(p.R, g.R, m.R, v.R, hp); candidate.AdamWStep(p.C, g.C, m.C, v.C, hp);
            }
            return [(p.RF(), p.CF()), (m.RF(), m.CF()), (v.RF(), v.CF())];
        });
        Check("SumOfSquares", "1000003", 1e-12, () =>
        {
            using var x = F(Rand(1000003));
            return [(new[] { (float)reference.SumOfSquares(x.R) }, new[] { (float)candidate.SumOfSquares(x.C) })];
        });
        Check("AttentionMask", "3x19", 0, () =>
        {
            using var mk = Ii(Enumerable.Range(0, 57).Select(i => i % 19 < 12 ? 1 : 0).ToArray()); using var a = F(new float[57]);
            reference.AttentionMask(mk.R, a.R, -10000f); candidate.AttentionMask(mk.C, a.C, -10000f);
            return [(a.RF(), a.CF())];
        });
        Check("Iota", "period 19 stride 0 / period 1 stride 19", 0, () =>
        {
            using var a = Ii(new int[57]); using var b = Ii(new int[7]);
            reference.Iota(a.R, 19, 0); candidate.Iota(a.C, 19, 0);
            reference.Iota(b.R, 1, 19); candidate.Iota(b.C, 1, 19);
            return [(I2F(a.RI()), I2F(a.CI())), (I2F(b.RI()), I2F(b.CI()))];
        });
        Check("MaskedLmTargets", "3x5 slots, T 19", 0, () =>
        {
            using var pos = Ii(Enumerable.Range(0, 15).Select(i => (i * 7) % 19).ToArray()); using var ids = Ii(Enumerable.Range(0, 15).Select(i => 100 + i).ToArray());
            using var w = F(Enumerable.Range(0, 15).Select(i => i % 5 < 3 ? 1f : 0f).ToArray());
            using var rws = Ii(new int[15]); using var tg = Ii(new int[15]);
            reference.MaskedLmTargets(pos.R, ids.R, w.R, 5, 19, -100, rws.R, tg.R);
            candidate.MaskedLmTargets(pos.C, ids.C, w.C, 5, 19, -100, rws.C, tg.C);
            return [(I2F(rws.RI()), I2F(rws.CI())), (I2F(tg.RI()), I2F(tg.CI()))];
        });
        Check("Copy/Zero", "1001", 0, () =>
        {
            using var a = F(Rand(1001)); using var b = F(Rand(1001));
            reference.Copy(a.R.View(3, 500), b.R.View(400, 500)); candidate.Copy(a.C.View(3, 500), b.C.View(400, 500));
            reference.Zero(a.R.View(7, 13)); candidate.Zero(a.C.View(7, 13));
            return [(a.RF(), a.CF()), (b.RF(), b.CF())];
        });
        return results;
    }
}
