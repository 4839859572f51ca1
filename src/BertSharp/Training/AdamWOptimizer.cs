using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Training;

/// <summary>
/// AdamW over the flat buffers exactly as torch.optim.AdamW (bias-corrected, decoupled weight decay),
/// preceded by global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (scale = max/(norm + 1e-6)
/// when below 1). Decay applies to [0, DecayLength) only — biases and LayerNorm are not decayed — so an
/// update is two kernel calls; the clipping scale is folded into the kernel instead of rescaling the gradients.
/// </summary>
public sealed class AdamWOptimizer
{
    private readonly BertParameters _p;
    private readonly IComputeBackend _be;

    public float[] ExpAvg { get; }
    public float[] ExpAvgSq { get; }
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Epsilon { get; init; } = 1e-6f;
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>0 or less disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Updates done so far (AdamW's t).</summary>
    public int StepCount { get; set; }

    public AdamWOptimizer(BertParameters parameters, IComputeBackend? backend = null)
    {
        _p = parameters;
        _be = backend ?? CpuBackend.Instance;
        ExpAvg = GC.AllocateArray<float>(parameters.Layout.Length, pinned: true);
        ExpAvgSq = GC.AllocateArray<float>(parameters.Layout.Length, pinned: true);
    }

    /// <summary>Global L2 norm of the gradients (before clipping), in a fixed reduction order.</summary>
    public double GradientNorm() => Math.Sqrt(_be.SumOfSquares(_p.Gradients));

    /// <summary>One update at <paramref name="learningRate"/>; returns the gradient norm before clipping.
    /// A non-finite norm leaves the parameters untouched and is returned for the caller to stop on.</summary>
    public double Step(double learningRate)
    {
        double norm = GradientNorm();
        if (double.IsFinite(norm)) Update(learningRate, ClipScale(norm));
        return norm;
    }

    /// <summary>The factor clip_grad_norm_ applies to gradients whose global norm is <paramref name="norm"/>.</summary>
    public float ClipScale(double norm) => MaxGradNorm > 0 ? (float)Math.Min(1.0, MaxGradNorm / (norm + 1e-6)) : 1f;

    /// <summary>Advances t and updates the flat buffer with gradients scaled by <paramref name="clipScale"/>;
    /// returns the hyper-parameters used (with decay), so a caller owning extra tensors (a task head) can
    /// update them in the same step.</summary>
    public AdamWParams Update(double learningRate, float clipScale)
    {
        StepCount++;
        int d = _p.Layout.DecayLength, n = _p.Layout.Length;
        var hp = new AdamWParams((float)learningRate, Beta1, Beta2, Epsilon, WeightDecay, StepCount, clipScale);
        _be.AdamWStep(_p.Values.AsSpan(0, d), _p.Gradients.AsSpan(0, d), ExpAvg.AsSpan(0, d), ExpAvgSq.AsSpan(0, d), hp);
        _be.AdamWStep(_p.Values.AsSpan(d, n - d), _p.Gradients.AsSpan(d, n - d), ExpAvg.AsSpan(d, n - d), ExpAvgSq.AsSpan(d, n - d),
            hp with { WeightDecay = 0f });
        return hp;
    }
}
