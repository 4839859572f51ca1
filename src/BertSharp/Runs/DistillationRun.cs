using BertSharp.Distributed;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Runs;

/// <summary>
/// Task distillation, start to end: fine-tuning (<see cref="FineTuningRun"/>: data, the one trainer, checkpoints, resume,
/// the finished HuggingFace folder) of a student classifier on a teacher's soft labels beside the true ones. The
/// teacher's logits for the training texts are computed once and cached in the output folder
/// (<see cref="TeacherLogits"/>), so a resumed or repeated run does not run the teacher again.
/// <code>
/// var result = new DistillationRun(new DistillationRequest { Teacher = "runs/cls", Student = "tiny",
///     Training = new FineTuningRequest { OutputDir = "runs/tiny-cls", Data = "reviews.jsonl" } }).Run();
/// </code>
/// Problems are <see cref="BertSharpException"/>s, refused before any work: a teacher without a classifier head, a
/// student with another vocabulary, data whose labels are not the teacher's, a teacher inside the output folder.
/// </summary>
/// <param name="request">the teacher, the student, the loss and the training</param>
public sealed class DistillationRun(DistillationRequest request)
{
    /// <summary>The request the run carries out.</summary>
    public DistillationRequest Request { get; } = request;
    /// <summary>Progress lines (the teacher's pass, then fine-tuning's).</summary>
    public IProgress<string>? Progress { get; set; }
    /// <summary>Where teacher and student run (the CPU unless set).</summary>
    public Device Device { get; set; } = Device.Cpu;
    /// <summary>Told about the training.</summary>
    public IReadOnlyList<ITrainerCallback> Callbacks { get; set; } = [];
    /// <summary>TensorBoard event files under the output folder (the default), or none.</summary>
    public ReportTo ReportTo { get; set; } = ReportTo.TensorBoard;
    /// <summary>The ranks of a data-parallel run; every rank runs the same <see cref="Run"/>.</summary>
    public ICommunicator Communicator { get; set; } = SingleProcess.Instance;

    /// <summary>Distils as requested; the result is fine-tuning's (<see cref="FineTuningResult"/>), and the output folder's
    /// finetune_results.json records the teacher and the loss.</summary>
    public FineTuningResult Run(CancellationToken cancel = default)
    {
        var plan = new DistillationPlan(Request);
        var run = new FineTuningRun(plan.Training)
        {
            Progress = Progress, Device = Device, Callbacks = Callbacks, ReportTo = ReportTo, Communicator = Communicator,
            Distillation = plan,
        };
        return run.Run(cancel);
    }
}
