using System.CommandLine;
using BertSharp.Runs;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp distill TEACHER --student PRESET|MODEL --out DIR</c>: a small student classifier trained on a
/// fine-tuned teacher's soft labels and the true ones. The options become a <see cref="DistillationRequest"/> (the
/// recipe's through <see cref="FineTuningOptions"/>, as <c>finetune</c>'s), the library's <see cref="DistillationRun"/>
/// does the work, and this renders it.</summary>
public static class DistillCommand
{
    public static Command Create()
    {
        var teacher = new Argument<string>("teacher") { Description = "The fine-tuned classifier to learn from (finetune's --out, a checkpoint, or an HF BertForSequenceClassification folder)" };
        var student = new Option<string?>("--student") { Description = "The student: a preset (tiny, mini, small, medium, base: random weights, the teacher's vocabulary) or a pretrained run, checkpoint or HF folder with the teacher's vocabulary" };
        var teacherLayers = new Option<int?>("--teacher-layers") { Description = "Instead of --student: start from every k-th layer of the teacher, N layers in all (DistilBERT's initialisation; N divides the teacher's layers)" };
        var randomInit = new Option<bool>("--random-init") { Description = "With a --student model: its architecture but random weights" };
        var temperature = new Option<float>("--temperature") { Description = "T: softens both models' logits in the soft-target term (2: DistilBERT's choice)", DefaultValueFactory = _ => 2f };
        var alpha = new Option<float>("--alpha") { Description = "Share of the soft-target term in the loss, in [0, 1] (the rest: cross-entropy with the labels)", DefaultValueFactory = _ => 0.5f };
        var recipe = new FineTuningOptions("Folder for the student (HF BertForSequenceClassification layout), finetune_results.json and the teacher's cached logits");
        var command = new Command("distill", "Distil a fine-tuned classifier into a smaller student: loss = alpha * T^2 * KL(teacher || student) at temperature T + (1 - alpha) * cross-entropy (Hinton et al. 2015).")
        {
            teacher, student, teacherLayers, randomInit, temperature, alpha,
        };
        recipe.AddTo(command);
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var world = recipe.StartWorld(parse);
            var request = new DistillationRequest
            {
                Teacher = parse.GetValue(teacher)!, Student = parse.GetValue(student), TeacherLayers = parse.GetValue(teacherLayers),
                Temperature = parse.GetValue(temperature), Alpha = parse.GetValue(alpha),
                Training = recipe.Request(parse) with { RandomInit = parse.GetValue(randomInit) },
            };
            var run = new DistillationRun(request) { Progress = new FineTuningOptions.Lines(CliConsole.Err), Communicator = world, Device = CliDevice.Current, ReportTo = recipe.ReportTo(parse) };
            if (CliConsole.AfterStep is { } hook) run.Callbacks = [new FineTuningOptions.StepHook(hook)];
            if (world.Rank != 0) return Task.FromResult(run.Run(cancel).Interrupted ? CliRunner.ExitInterrupted : CliRunner.ExitOk);
            return Task.FromResult(FineTuningOptions.Render(run.Run(cancel), parse.GetValue(recipe.Json), FineTuningOptions.ResumeCommand(parse)));
        });
        return command;
    }
}
