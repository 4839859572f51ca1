using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Fused AdamW over one flat buffer: one pass reading param, grad, m, v and writing param, m, v.</summary>
public static unsafe class AdamW
{
    /// <summary>PyTorch's AdamW order: p *= 1 − lr·wd; m = b1·m + (1 − b1)·g; v = b2·v + (1 − b2)·g²;
    /// p −= (lr / (1 − b1^t)) · m / (√v / √(1 − b2^t) + eps), with g = gradScale·grad.</summary>
    public static void Step(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, in AdamWParams hp)
    {
        Check.SameLength(grad.Length, param.Length, nameof(grad), nameof(param));
        Check.SameLength(m.Length, param.Length, nameof(m), nameof(param));
        Check.SameLength(v.Length, param.Length, nameof(v), nameof(param));
        if (hp.Step < 1) throw new ArgumentOutOfRangeException(nameof(hp), hp.Step, $"hp.Step must be >= 1 (1-based), got {hp.Step}");
        if (!(hp.Beta1 >= 0f && hp.Beta1 < 1f)) throw new ArgumentOutOfRangeException(nameof(hp), hp.Beta1, $"hp.Beta1 must be in [0, 1), got {hp.Beta1}");
        if (!(hp.Beta2 >= 0f && hp.Beta2 < 1f)) throw new ArgumentOutOfRangeException(nameof(hp), hp.Beta2, $"hp.Beta2 must be in [0, 1), got {hp.Beta2}");
        if (param.Length == 0) return;
        // Bias corrections in double, as PyTorch computes them from Python floats.
        double bc1 = 1 - Math.Pow(hp.Beta1, hp.Step);
        double bc2 = 1 - Math.Pow(hp.Beta2, hp.Step);
        fixed (float* pp = param, pg = grad, pm = m, pv = v)
        {
            var body = new Body
            {
                P = pp, G = pg, M = pm, V = pv, N = param.Length,
                Decay = (float)(1 - (double)hp.LearningRate * hp.WeightDecay),
                OneMinusB1 = 1f - hp.Beta1, B2 = hp.Beta2, OneMinusB2 = 1f - hp.Beta2,
                StepSize = (float)(hp.LearningRate / bc1), InvSqrtBc2 = (float)(1 / Math.Sqrt(bc2)),
                Eps = hp.Epsilon, GradScale = hp.GradScale,
            };
            KernelLoop.For((param.Length + 7) / 8, 2048, ref body);
        }
    }

    private struct Body : IRangeBody
    {
        public float* P, G, M, V;
        public int N;
        public float Decay, OneMinusB1, B2, OneMinusB2, StepSize, InvSqrtBc2, Eps, GradScale;

        public void Invoke(int start, int end)
        {
            int i = start * 8, e = (int)Math.Min(N, (long)end * 8);
            for (; i <= e - 8; i += 8)
            {
                var p = Vector256.Load(P + i);
                var m = Vector256.Load(M + i);
                var v = Vector256.Load(V + i);
                Update(ref p, Vector256.Load(G + i), ref m, ref v);
                Vector256.Store(p, P + i); Vector256.Store(m, M + i); Vector256.Store(v, V + i);
            }
            if (i < e)
            {
                int t = e - i;
                var p = VMath.LoadTail(P + i, t, 0f);
                var m = VMath.LoadTail(M + i, t, 0f);
                var v = VMath.LoadTail(V + i, t, 0f);
                Update(ref p, VMath.LoadTail(G + i, t, 0f), ref m, ref v);
                VMath.StoreTail(P + i, t, p); VMath.StoreTail(M + i, t, m); VMath.StoreTail(V + i, t, v);
            }
        }

        private readonly void Update(ref Vector256<float> p, Vector256<float> grad, ref Vector256<float> m, ref Vector256<float> v)
        {
            var g = grad * Vector256.Create(GradScale);
            p *= Vector256.Create(Decay);
            m += Vector256.Create(OneMinusB1) * (g - m);      // PyTorch: exp_avg.lerp_(grad, 1 − beta1)
            v = v * Vector256.Create(B2) + Vector256.Create(OneMinusB2) * g * g; // mul_(b2).addcmul_(g, g, 1 − b2)
            var denom = Vector256.Sqrt(v) * Vector256.Create(InvSqrtBc2) + Vector256.Create(Eps);
            p -= Vector256.Create(StepSize) * (m / denom);
        }
    }
}
