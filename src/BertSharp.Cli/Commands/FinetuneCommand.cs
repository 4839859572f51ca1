using System.CommandLine;
using BertSharp.Runs;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp finetune</c>: BertForSequenceClassification on IMDB (default) or any labelled folder / JSON Lines.
/// The options become a <see cref="FineTuningRequest"/> (the recipe's through <see cref="FineTuningOptions"/>, shared with
/// <c>distill</c>), the library's <see cref="FineTuningRun"/> does the work, and this renders it.</summary>
public static class FinetuneCommand
{
    public static Command Create()
    {
        var modelArg = new Argument<string?>("model") { Description = "Pretrained run, checkpoint or HF folder to start from (none: --preset and --vocab, random weights)", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string?>("--model") { Description = "The model, when not given as the first argument" };
        var randomInit = new Option<bool>("--random-init") { Description = "Use the model's architecture and vocabulary but random weights (the from-scratch baseline)" };
        var preset = new Option<string?>("--preset") { Description = "Without a model: architecture preset (tiny, mini, small, medium, base) with --vocab" };
        var vocab = new Option<string?>("--vocab") { Description = "Without a model: vocab.txt" };
        var cased = new Option<bool>("--cased") { Description = "Without a model: cased tokenizer" };
        var recipe = new FineTuningOptions("Folder for the fine-tuned model (HF BertForSequenceClassification layout) and finetune_results.json");
        var command = new Command("finetune", "Fine-tune a sequence classifier (IMDB sentiment by default): AdamW, warm-up + linear decay, evaluation each epoch.")
        {
            modelArg, model, randomInit, preset, vocab, cased,
        };
        recipe.AddTo(command);
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var world = recipe.StartWorld(parse);
            var request = recipe.Request(parse) with
            {
                Model = CommandInputs.Model(parse.GetValue(modelArg), parse.GetValue(model), "--model", "finetune", required: false), RandomInit = parse.GetValue(randomInit), Preset = parse.GetValue(preset), VocabPath = parse.GetValue(vocab),
                Cased = parse.GetValue(cased),
            };
            var run = new FineTuningRun(request) { Progress = new FineTuningOptions.Lines(CliConsole.Err), Communicator = world, Device = CliDevice.Current, ReportTo = recipe.ReportTo(parse) };
            if (CliConsole.AfterStep is { } hook) run.Callbacks = [new FineTuningOptions.StepHook(hook)];
            // Data parallel: rank 0 alone prints and writes; the others print nothing but errors.
            if (world.Rank != 0) return Task.FromResult(run.Run(cancel).Interrupted ? CliRunner.ExitInterrupted : CliRunner.ExitOk);
            return Task.FromResult(FineTuningOptions.Render(run.Run(cancel), parse.GetValue(recipe.Json), FineTuningOptions.ResumeCommand(parse)));
        });
        return command;
    }
}
