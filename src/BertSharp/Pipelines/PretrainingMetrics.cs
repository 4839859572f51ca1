namespace BertSharp.Pipelines;

/// <summary>Masked-LM and next-sentence metrics of a model over a set of documents (dropout off, fixed masks).</summary>
/// <param name="Documents">Documents the items were made from.</param>
/// <param name="Sequences">Sequences evaluated (one NSP decision each).</param>
/// <param name="MaskedTokens">Masked tokens predicted.</param>
/// <param name="MlmLoss">Mean cross-entropy per masked token (NaN when none).</param>
/// <param name="MlmAccuracy">Share of masked tokens whose original token is the most likely.</param>
/// <param name="NspLoss">Mean cross-entropy per sequence of the NSP head.</param>
/// <param name="NspAccuracy">Share of sequences whose IsNext/Random label is predicted.</param>
/// <param name="NspMajorityAccuracy">What always answering the more frequent NSP label scores (50 % only when the
/// items hold as many random as true pairs).</param>
public sealed record PretrainingMetrics(int Documents, long Sequences, long MaskedTokens, double MlmLoss, double MlmAccuracy,
    double NspLoss, double NspAccuracy, double NspMajorityAccuracy)
{
    /// <summary>exp(<see cref="MlmLoss"/>).</summary>
    public double MlmPerplexity => Math.Exp(MlmLoss);
}
