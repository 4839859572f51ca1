using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>
/// The soft-target loss of knowledge distillation (Hinton et al. 2015): per row of float32 logits, with
/// p = softmax(teacher / T) and q = softmax(student / T), losses[r] = weights[r]·T²·KL(p ‖ q), and its gradient with
/// respect to the student, scale·weights[r]·T·(q − p). Rows as wide as a vocabulary: each row's maxima and sums are
/// gathered in one sweep of blocks re-read from L1 (online rescaling, as <see cref="CrossEntropy"/>), the gradient
/// written in a second. Rows are split over threads, each row computed by one thread in a fixed order, so results are
/// bitwise identical for any thread count. 1/T is applied as a multiplication by the float 1/T (exact for powers of
/// two), after the row maximum is subtracted, so the logits nearest the maximum keep full precision.
/// </summary>
public static unsafe class SoftTargetLoss
{
    /// <summary>losses[r] = weights[r]·T²·Σ_c p_c (log p_c − log q_c) (0 where weights[r] == 0, whose logits are not
    /// read; a p_c that is exactly 0 contributes 0). Overwritten.</summary>
    public static void Forward(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, ReadOnlySpan<float> weights, int rows, int cols,
        float temperature, Span<float> losses)
    {
        CheckCommon(student.Length, teacher.Length, weights.Length, rows, cols, temperature);
        Check.Count(losses.Length, rows, nameof(losses), "rows");
        if (rows == 0) return;
        fixed (float* ps = student, pt = teacher, pw = weights, pl = losses)
        {
            var body = new ForwardBody { S = ps, T = pt, W = pw, Loss = pl, Cols = cols, Temperature = temperature };
            KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
        }
    }

    /// <summary>dstudent[r, c] = scale·weights[r]·T·(q_c − p_c), the gradient of scale·losses[r] with respect to the
    /// student's logits; zero rows where weights[r] == 0. <paramref name="accumulate"/>: dstudent += instead of =.
    /// dstudent must not overlap student or teacher.</summary>
    public static void Backward(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, ReadOnlySpan<float> weights, int rows, int cols,
        float temperature, float scale, Span<float> dstudent, bool accumulate)
    {
        CheckCommon(student.Length, teacher.Length, weights.Length, rows, cols, temperature);
        Check.Matrix(dstudent.Length, rows, cols, nameof(dstudent));
        if (rows == 0) return;
        long n = (long)rows * cols;
        ReadOnlySpan<float> d = dstudent[..(int)n];
        if (d.Overlaps(student[..(int)n]) || d.Overlaps(teacher[..(int)n]))
            throw new ArgumentException("dstudent: must not overlap student or teacher", nameof(dstudent));
        fixed (float* ps = student, pt = teacher, pw = weights, pd = dstudent)
        {
            var body = new BackwardBody { S = ps, T = pt, W = pw, D = pd, Cols = cols, Temperature = temperature, Scale = scale, Accumulate = accumulate };
            KernelLoop.For(rows, Math.Max(1, 16384 / cols), ref body);
        }
    }

    private static void CheckCommon(int studentLength, int teacherLength, int weightsLength, int rows, int cols, float temperature)
    {
        Check.NonNegative(rows, nameof(rows));
        if (cols <= 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, $"cols must be positive, got {cols}");
        if (!(temperature > 0f && float.IsFinite(temperature)))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, $"temperature must be positive and finite, got {temperature}");
        Check.Matrix(studentLength, rows, cols, "student");
        Check.Matrix(teacherLength, rows, cols, "teacher");
        Check.Count(weightsLength, rows, "weights", "rows");
    }

    private const int Block = 2048; // 8 KB of each row: both blocks are re-read from L1

    // One row's statistics: the maxima of s and t, Za = Σ exp((s − ms)/T), Zb = Σ exp((t − mt)/T) and (withCross)
    // S = Σ exp((t − mt)/T)·(t − s), in one sweep of blocks; a block that raises a maximum rescales the sums before it.
    private static void RowStats(float* s, float* t, int n, float invT, bool withCross,
        out float ms, out float mt, out double za, out double zb, out double cross)
    {
        ms = mt = float.NegativeInfinity;
        za = zb = cross = 0;
        var vt = Vector256.Create(invT);
        for (int b0 = 0; b0 < n; b0 += Block)
        {
            int w = Math.Min(Block, n - b0);
            float* sb = s + b0, tb = t + b0;
            // Block maxima (a NaN is caught by the exp sums below).
            var a0 = Vector256.Create(float.NegativeInfinity); var a1 = a0; var c0 = a0; var c1 = a0;
            int i = 0;
            for (; i <= w - 16; i += 16)
            {
                a0 = VMath.MaxFast(a0, Vector256.Load(sb + i)); a1 = VMath.MaxFast(a1, Vector256.Load(sb + i + 8));
                c0 = VMath.MaxFast(c0, Vector256.Load(tb + i)); c1 = VMath.MaxFast(c1, Vector256.Load(tb + i + 8));
            }
            for (; i <= w - 8; i += 8) { a0 = VMath.MaxFast(a0, Vector256.Load(sb + i)); c0 = VMath.MaxFast(c0, Vector256.Load(tb + i)); }
            if (i < w)
            {
                a1 = VMath.MaxFast(a1, VMath.LoadTail(sb + i, w - i, float.NegativeInfinity));
                c1 = VMath.MaxFast(c1, VMath.LoadTail(tb + i, w - i, float.NegativeInfinity));
            }
            float bs = VMath.HMax(VMath.MaxFast(a0, a1)), bt = VMath.HMax(VMath.MaxFast(c0, c1));
            if (bs > ms)
            {
                // exp(-inf) = 0 covers the first block.
                za = ms == float.NegativeInfinity ? 0 : za * Math.Exp(((double)ms - bs) * invT);
                ms = bs;
            }
            if (bt > mt)
            {
                double f = mt == float.NegativeInfinity ? 0 : Math.Exp(((double)mt - bt) * invT);
                zb *= f;
                cross *= f;
                mt = bt;
            }
            var vms = Vector256.Create(ms); var vmt = Vector256.Create(mt);
            var sa0 = Vector256<float>.Zero; var sa1 = sa0; var sz0 = sa0; var sz1 = sa0; var sc0 = sa0; var sc1 = sa0;
            i = 0;
            for (; i <= w - 16; i += 16)
            {
                var x0 = Vector256.Load(sb + i); var x1 = Vector256.Load(sb + i + 8);
                var y0 = Vector256.Load(tb + i); var y1 = Vector256.Load(tb + i + 8);
                sa0 += VMath.ExpNonPositive((x0 - vms) * vt); sa1 += VMath.ExpNonPositive((x1 - vms) * vt);
                var e0 = VMath.ExpNonPositive((y0 - vmt) * vt); var e1 = VMath.ExpNonPositive((y1 - vmt) * vt);
                sz0 += e0; sz1 += e1;
                if (withCross) { sc0 += Cross(e0, y0, x0); sc1 += Cross(e1, y1, x1); }
            }
            for (; i <= w - 8; i += 8)
            {
                var x0 = Vector256.Load(sb + i); var y0 = Vector256.Load(tb + i);
                sa0 += VMath.ExpNonPositive((x0 - vms) * vt);
                var e0 = VMath.ExpNonPositive((y0 - vmt) * vt);
                sz0 += e0;
                if (withCross) sc0 += Cross(e0, y0, x0);
            }
            if (i < w)
            {
                var x1 = VMath.LoadTail(sb + i, w - i, float.NegativeInfinity); var y1 = VMath.LoadTail(tb + i, w - i, float.NegativeInfinity);
                sa1 += VMath.ExpNonPositive((x1 - vms) * vt);
                var e1 = VMath.ExpNonPositive((y1 - vmt) * vt);
                sz1 += e1;
                if (withCross) sc1 += Cross(e1, y1, x1);
            }
            za += Vector256.Sum(sa0 + sa1);
            zb += Vector256.Sum(sz0 + sz1);
            if (withCross) cross += Vector256.Sum(sc0 + sc1);
        }
    }

    // e·(t − s), 0 where e == 0: a teacher probability that is exactly 0 contributes 0 even where t − s is infinite
    // (and the padded tail lanes, −inf − −inf, contribute nothing).
    private static Vector256<float> Cross(Vector256<float> e, Vector256<float> t, Vector256<float> s)
        => Vector256.ConditionalSelect(Vector256.Equals(e, Vector256<float>.Zero), Vector256<float>.Zero, e * (t - s));

    private struct ForwardBody : IRangeBody
    {
        public float* S, T, W, Loss;
        public int Cols;
        public float Temperature;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            float invT = 1f / Temperature;
            double t2 = (double)Temperature * Temperature;
            for (int r = start; r < end; r++)
            {
                float w = W[r];
                if (w == 0f) { Loss[r] = 0f; continue; }
                long o = (long)r * n;
                RowStats(S + o, T + o, n, invT, true, out float ms, out float mt, out double za, out double zb, out double cross);
                // Σ p (log p − log q) with log p = (t − mt)/T − log Zb and log q = (s − ms)/T − log Za, Σ p = 1.
                double kl = invT * (cross / zb - ((double)mt - ms)) + Math.Log(za / zb);
                Loss[r] = (float)(w * t2 * kl);
            }
        }
    }

    private struct BackwardBody : IRangeBody
    {
        public float* S, T, W, D;
        public int Cols;
        public float Temperature, Scale;
        public bool Accumulate;

        public void Invoke(int start, int end)
        {
            int n = Cols;
            float invT = 1f / Temperature;
            var vt = Vector256.Create(invT);
            for (int r = start; r < end; r++)
            {
                long o = (long)r * n;
                float* d = D + o, s = S + o, t = T + o;
                float w = W[r];
                if (w == 0f)
                {
                    if (!Accumulate) new Span<float>(d, n).Clear();
                    continue;
                }
                RowStats(s, t, n, invT, false, out float ms, out float mt, out double za, out double zb, out _);
                // q − p = exp((s − ms)/T − log Za) − exp((t − mt)/T − log Zb), both exponents ≤ 0 (Z ≥ 1).
                var vms = Vector256.Create(ms); var vmt = Vector256.Create(mt);
                var la = Vector256.Create((float)Math.Log(za)); var lb = Vector256.Create((float)Math.Log(zb));
                var c = Vector256.Create(Scale * w * Temperature);
                int i = 0;
                for (; i <= n - 8; i += 8)
                {
                    var g = c * (VMath.ExpNonPositive((Vector256.Load(s + i) - vms) * vt - la) - VMath.ExpNonPositive((Vector256.Load(t + i) - vmt) * vt - lb));
                    Vector256.Store(Accumulate ? Vector256.Load(d + i) + g : g, d + i);
                }
                if (i < n)
                {
                    int k = n - i;
                    var g = c * (VMath.ExpNonPositive((VMath.LoadTail(s + i, k, ms) - vms) * vt - la) - VMath.ExpNonPositive((VMath.LoadTail(t + i, k, mt) - vmt) * vt - lb));
                    VMath.StoreTail(d + i, k, Accumulate ? VMath.LoadTail(d + i, k, 0f) + g : g);
                }
            }
        }
    }
}
