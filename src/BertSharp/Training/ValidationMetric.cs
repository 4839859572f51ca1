namespace BertSharp.Training;

/// <summary>A figure of an evaluation that can pick the best model.</summary>
public enum ValidationMetric
{
    /// <summary>The task's loss: MLM + NSP for pretraining, the label loss for classification.</summary>
    Loss,
    /// <summary>Masked-token cross-entropy.</summary>
    MlmLoss,
    /// <summary>Share of masked tokens predicted right.</summary>
    MlmAccuracy,
    /// <summary>Share of next-sentence labels predicted right.</summary>
    NspAccuracy,
    /// <summary>Classification cross-entropy.</summary>
    LabelLoss,
    /// <summary>Share of labelled rows classified right.</summary>
    LabelAccuracy,
}
