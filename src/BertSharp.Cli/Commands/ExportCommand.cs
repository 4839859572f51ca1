using System.CommandLine;
using static BertSharp.Cli.Commands.UseCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp export</c>: a checkpoint as a folder HuggingFace's from_pretrained loads unchanged.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--checkpoint") { Description = "Checkpoint folder (or a run/output folder: its newest checkpoint)", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder to write (config.json, model.safetensors, vocab.txt, tokenizer_config.json, special_tokens_map.json)", Required = true };
        var vocab = new Option<string?>("--vocab") { Description = "vocab.txt to use when the checkpoint has none" };
        var cased = new Option<bool>("--cased") { Description = "Record a cased tokenizer (do_lower_case false) when the checkpoint does not say" };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists" };
        var command = new Command("export", "Write a checkpoint as a HuggingFace folder (BertForPreTraining, or BertForSequenceClassification after finetune).")
        {
            model, outDir, vocab, cased, force,
        };
        command.SetAction((ParseResult parse, CancellationToken _) =>
        {
            string folder = ResolveModelFolder(parse.GetValue(model)!);
            var m = Guard(() => BertSharp.IO.ModelFolder.Load(folder, requireVocab: false));
            if (parse.GetValue(vocab) is { } v) m.Vocabulary = Guard(() => BertSharp.Text.Vocabulary.Load(v));
            else if (m.Vocabulary is null) m.Vocabulary = Load(folder).Vocabulary;
            if (!File.Exists(Path.Combine(folder, BertSharp.IO.ModelFolder.TokenizerConfigFile)) && parse.GetValue(cased)) m.LowerCase = false;
            Guard(() => m.Save(parse.GetValue(outDir)!, overwrite: parse.GetValue(force)));
            Console.WriteLine($"exported {folder} -> {parse.GetValue(outDir)} ({m.Config.Architectures[0]}, {m.Parameters.Layout.ParameterCount:N0} parameters, "
                + $"{m.Vocabulary!.Count:N0} tokens, {(m.LowerCase ? "uncased" : "cased")})");
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
