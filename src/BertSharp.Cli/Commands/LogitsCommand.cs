using BertSharp.Files;
using System.CommandLine;
using BertSharp.IO;
using BertSharp.Pipelines;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp logits</c>: the raw MLM and NSP logits of token ids, as JSON, to compare with any other
/// BERT implementation number for number (<see cref="PreTrainingLogits"/>).</summary>
public static class LogitsCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A checkpoint folder, a run folder (its newest checkpoint), or an exported/imported HuggingFace folder" };
        var input = new Argument<string>("input") { Description = "JSON file: {\"input_ids\": [[...]], \"token_type_ids\": [[...]], \"attention_mask\": [[...]]} (the last two optional: zeros, ones)" };
        var output = new Option<string?>("--out") { Description = "Write the JSON to this file (written whole, then renamed into place) instead of standard output" };
        var force = CommandInputs.ForceOption();
        var command = new Command("logits", "Print HF BertForPreTraining's prediction_logits [B][T][V] (every position) and seq_relationship_logits [B][2] for token ids, in eval mode.")
        {
            model, input, output, force,
        };
        command.SetAction((ParseResult parse) =>
        {
            CommandInputs.CheckOut(parse.GetValue(output), folder: false, parse.GetValue(force), parse.GetValue(model), parse.GetValue(input));
            // The input first: a malformed file fails before the model is loaded.
            var inputs = PreTrainingInputs.Load(parse.GetValue(input)!);
            var checkpoint = PretrainedModel.Load(parse.GetValue(model)!).To(CliDevice.Current);
            var result = new PreTrainingLogits(checkpoint.Parameters).Compute(inputs);
            if (parse.GetValue(output) is { } path)
            {
                result.Save(path);
                CliConsole.Err.WriteLine($"wrote {path}: prediction_logits [{result.BatchSize}, {result.SeqLength}, {result.VocabSize}], seq_relationship_logits [{result.BatchSize}, 2]");
            }
            else result.WriteJson(CliConsole.Out);
            return CliRunner.ExitOk;
        });
        return command;
    }
}
