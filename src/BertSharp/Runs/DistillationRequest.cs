namespace BertSharp.Runs;

/// <summary>
/// What a <see cref="DistillationRun"/> does, named after the <c>distill</c> options: a student classifier trained on a
/// teacher's soft labels and the true ones (Hinton et al. 2015: <see cref="Alpha"/> · T² · KL(teacher ‖ student) at
/// temperature <see cref="Temperature"/> + (1 − α) · cross-entropy), the training itself as fine-tuning does it
/// (<see cref="Training"/>: output folder, data, epochs, learning rate, ...; its model fields stay unset — the student is
/// <see cref="Student"/> or <see cref="TeacherLayers"/>).
/// <code>
/// var result = new DistillationRun(new DistillationRequest
/// {
///     Teacher = "runs/imdb-cls", Student = "tiny",
///     Training = new FineTuningRequest { OutputDir = "runs/imdb-tiny", ImdbArchive = "aclImdb_v1.tar.gz", Epochs = 2, LearningRate = 2e-4 },
/// }).Run();
/// </code>
/// </summary>
public sealed record DistillationRequest
{
    /// <summary>The teacher: a fine-tuned classifier (a <c>finetune</c> output folder, one of its checkpoints, or a
    /// HuggingFace BertForSequenceClassification folder). It runs once per training text, in eval mode.</summary>
    public required string Teacher { get; init; }
    /// <summary>The student: a preset name (tiny, mini, small, medium, base: random weights with the teacher's vocabulary
    /// and casing), or a model to start from (a pretrained run, checkpoint or HuggingFace folder with the teacher's
    /// vocabulary; <see cref="FineTuningRequest.RandomInit"/> keeps only its architecture). Null with <see cref="TeacherLayers"/>.</summary>
    public string? Student { get; init; }
    /// <summary>Start the student from every k-th encoder layer of the teacher (DistilBERT's initialisation): this many
    /// layers, a divisor of the teacher's; embeddings, pooler and classifier copied. Instead of <see cref="Student"/>.</summary>
    public int? TeacherLayers { get; init; }
    /// <summary>T: both models' logits are divided by it before the softmax of the soft-target term (default 2: softens a
    /// confident teacher enough to pass on how sure it is, DistilBERT's choice).</summary>
    public float Temperature { get; init; } = 2f;
    /// <summary>α in [0, 1]: the soft-target term's share of the loss (default 0.5; 1: the teacher alone, 0: the labels alone).</summary>
    public float Alpha { get; init; } = 0.5f;
    /// <summary>How the student trains and where it goes: the fine-tuning recipe (output folder, data, epochs, batch size,
    /// learning rate, length, seed, resume, ...). Its <see cref="FineTuningRequest.Model"/>, <see cref="FineTuningRequest.Preset"/>,
    /// <see cref="FineTuningRequest.VocabPath"/>, <see cref="FineTuningRequest.Cased"/> stay unset: the student and the teacher decide them.</summary>
    public required FineTuningRequest Training { get; init; }
}
