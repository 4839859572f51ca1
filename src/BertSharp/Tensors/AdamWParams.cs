namespace BertSharp.Tensors;

/// <summary>AdamW hyper-parameters for one update. <see cref="Step"/> is the 1-based step count used for
/// bias correction; <see cref="GradScale"/> multiplies the gradient first (loss-scale / clipping factor).</summary>
public readonly record struct AdamWParams(float LearningRate, float Beta1, float Beta2, float Epsilon,
    float WeightDecay, int Step, float GradScale);
