using BertSharp.Files;
using System.CommandLine;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp import</c>: a HuggingFace BERT folder (ours, save_pretrained's, or a published checkpoint) into our format.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var fromArg = new Argument<string?>("model") { Description = "HF model folder: config.json, model.safetensors, vocab.txt (tokenizer_config.json optional)", Arity = ArgumentArity.ZeroOrOne };
        var from = new Option<string?>("--from") { Description = "The model, when not given as the first argument" };
        var outDir = new Option<string>("--out") { Description = "Checkpoint folder to write", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists" };
        var json = new Option<bool>("--json") { Description = "Print what was written as one JSON object (snake_case keys)" };
        var command = new Command("import", "Read a HuggingFace BERT folder (bert./bare names, LayerNorm gamma/beta, tied decoder, F16/BF16) into a checkpoint.")
        {
            fromArg, from, outDir, force, json,
        };
        command.SetAction((ParseResult parse, CancellationToken _) =>
        {
            string output = parse.GetValue(outDir)!;
            string src = CommandInputs.Model(parse.GetValue(fromArg), parse.GetValue(from), "--from", "import")!;
            CommandInputs.CheckOut(output, folder: true, parse.GetValue(force), src);
            var loaded = PretrainedModel.Load(src);
            OutputPaths.RequireApart(output, "--out", loaded.Folder, loaded.RunFolder);
            CommandInputs.PrintNotes(loaded);
            var m = loaded.ToModelFolder();
            m.Save(parse.GetValue(outDir)!, overwrite: parse.GetValue(force));
            var c = m.Config;
            if (parse.GetValue(json))
            {
                CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    source = src, output = parse.GetValue(outDir), num_hidden_layers = c.NumHiddenLayers, hidden_size = c.HiddenSize,
                    num_attention_heads = c.NumAttentionHeads, vocab_size = c.VocabSize, parameters = m.Parameters.Layout.ParameterCount,
                    labels = loaded.Labels, lowercase = m.LowerCase, notes = loaded.Notes,
                }, CliJson.Indented));
                return Task.FromResult(CliRunner.ExitOk);
            }
            CliConsole.Out.WriteLine($"imported {src} -> {parse.GetValue(outDir)}: {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, {c.NumAttentionHeads} heads, "
                + $"vocab {c.VocabSize:N0}, {m.Parameters.Layout.ParameterCount:N0} parameters{(loaded.Labels is { } labels ? $", classifier over {string.Join("/", labels)}" : "")}, "
                + (m.LowerCase ? "uncased" : "cased"));
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
