using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Training;

/// <summary>
/// AdamW over the flat buffers exactly as torch.optim.AdamW (bias-corrected, decoupled weight decay),
/// preceded by global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (scale = max/(norm + 1e-6)
/// when below 1). Only the parameter groups a task trains are touched: their runs of the layout are updated
/// one kernel call per run (decayed runs with weight decay, biases and LayerNorm without), and the norm is taken
/// over them alone. The clipping scale is folded into the kernel instead of rescaling the gradients.
/// </summary>
public sealed class AdamWOptimizer
{
    private readonly BertParameters _p;
    private readonly Device _d;
    private readonly ParameterRegion[] _updates, _norm;

    /// <summary>First moments, [Layout.Length] on the parameters' device.</summary>
    public DeviceTensor ExpAvg { get; }
    /// <summary>Second moments, [Layout.Length] on the parameters' device.</summary>
    public DeviceTensor ExpAvgSq { get; }
    /// <summary>The groups this optimiser updates.</summary>
    public ParameterGroups Groups { get; }
    /// <summary>Decay rate of the first moments (BERT: 0.9).</summary>
    public float Beta1 { get; init; } = 0.9f;
    /// <summary>Decay rate of the second moments (BERT: 0.999).</summary>
    public float Beta2 { get; init; } = 0.999f;
    /// <summary>Added to √v in the denominator (BERT: 1e-6).</summary>
    public float Epsilon { get; init; } = 1e-6f;
    /// <summary>Decoupled weight decay of the decayed runs, multiplied by the learning rate (BERT: 0.01).</summary>
    public float WeightDecay { get; init; } = 0.01f;
    /// <summary>0 or less disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Updates done so far (AdamW's t).</summary>
    public int StepCount { get; set; }

    /// <summary>Allocates zeroed moments on the parameters' device and plans one update per run of <paramref name="groups"/>.</summary>
    /// <param name="parameters">the parameters to update in place (their gradients are read)</param>
    /// <param name="groups">the groups to train (a model's <see cref="ITrainableModel.TrainedGroups"/>)</param>
    public AdamWOptimizer(BertParameters parameters, ParameterGroups groups)
    {
        _p = parameters;
        _d = parameters.Device;
        Groups = groups;
        _updates = [.. parameters.Layout.RegionsOf(groups, byDecay: true)];
        _norm = [.. parameters.Layout.RegionsOf(groups, byDecay: false)];
        if (_updates.Length == 0) throw new ArgumentException($"optimizer: the model has no parameters in the groups {groups}");
        ExpAvg = _d.Allocate(DType.Float32, parameters.Layout.Length);
        ExpAvgSq = _d.Allocate(DType.Float32, parameters.Layout.Length);
    }

    /// <summary>An optimiser for what <paramref name="model"/> trains.</summary>
    public AdamWOptimizer(ITrainableModel model) : this(model.Parameters, model.TrainedGroups) { }

    /// <summary>Global L2 norm of the trained gradients (before clipping), in a fixed reduction order.</summary>
    public double GradientNorm()
    {
        double sum = 0;
        foreach (var r in _norm) sum += _d.SumOfSquares(_p.Gradients.View(r.Offset, r.Length));
        return Math.Sqrt(sum);
    }

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

    /// <summary>Advances t and updates the trained runs with gradients scaled by <paramref name="clipScale"/>.</summary>
    public void Update(double learningRate, float clipScale)
    {
        StepCount++;
        var hp = new AdamWParams((float)learningRate, Beta1, Beta2, Epsilon, WeightDecay, StepCount, clipScale);
        foreach (var r in _updates)
            _d.AdamWStep(_p.Values.View(r.Offset, r.Length), _p.Gradients.View(r.Offset, r.Length),
                ExpAvg.View(r.Offset, r.Length), ExpAvgSq.View(r.Offset, r.Length), r.Decay ? hp : hp with { WeightDecay = 0f });
        _p.MarkChanged();
    }
}
