namespace BertSharp.Training;

/// <summary>Where a run reports its metrics besides metrics.jsonl/csv and curves.svg (HF Trainer's <c>report_to</c>).</summary>
public enum ReportTo
{
    /// <summary>TensorBoard event files under the run folder's <c>tensorboard/</c> (the default).</summary>
    TensorBoard,
    /// <summary>Nothing else.</summary>
    None,
}
