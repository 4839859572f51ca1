namespace BertSharp.Model;

/// <summary>A model the one training loop can train: a forward pass over a batch that returns what it measured,
/// and the backward pass of that forward into the gradients of <see cref="Parameters"/>.</summary>
public interface ITrainableModel
{
    /// <summary>The parameters (and gradients) the model trains; the optimiser's buffers share their layout.</summary>
    BertParameters Parameters { get; }

    /// <summary>The parameter groups this task trains; the optimiser updates (and decays) only these.</summary>
    ParameterGroups TrainedGroups { get; }

    /// <summary>Forward pass over <paramref name="batch"/>; training mode when <paramref name="dropout"/> is on.</summary>
    TaskMetrics Forward(Data.BertBatch batch, in DropoutContext dropout);

    /// <summary>Backward of the last <see cref="Forward"/>: adds d(loss·<paramref name="lossScale"/>)/dθ into the gradients.</summary>
    void Backward(float lossScale = 1f);

    /// <summary>
    /// Backward of the last <see cref="Forward"/> with each mean loss taken over the counts of <paramref name="totals"/>
    /// (MlmCount, NspCount, LabelCount) instead of this batch's own: a data-parallel rank's slice then contributes
    /// exactly its share of the global batch's gradient, and the ranks' gradients add up to it.
    /// </summary>
    void Backward(float lossScale, in TaskMetrics totals);

    /// <summary>The metrics of a pass over no rows (a data-parallel rank without rows in a batch): zero sums and counts,
    /// with whatever the model's objective carries beside them (its weights), so that every rank computes the global
    /// batch's objective alike.</summary>
    TaskMetrics EmptyPass => default;
}
