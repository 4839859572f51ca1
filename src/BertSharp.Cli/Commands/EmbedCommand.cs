using BertSharp.Files;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Pipelines;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp embed</c>: one vector per text to JSON Lines (<see cref="EmbeddingPipeline"/>).</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "The model folder, when not given as the first argument" };
        var texts = new Argument<string[]>("model-and-texts")
        {
            Description = "The model or checkpoint folder (pretrained or fine-tuned), then the texts to embed (else --file, else stdin, one text per line)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var file = new Option<string?>("--file") { Description = "File with one text per line (\"-\" = stdin)" };
        var pooling = new Option<string>("--pooling")
        {
            Description = "cls: last layer's [CLS] vector; mean: mean of the last layer over the real tokens; pooler: tanh pooler output",
            DefaultValueFactory = _ => "cls",
        };
        var outFile = new Option<string?>("--out") { Description = "Output .jsonl [default: stdout]" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per input including [CLS] and [SEP]; longer texts keep head and tail" };
        var batch = new Option<int>("--batch-size") { Description = "Texts per forward pass", DefaultValueFactory = _ => 16 };
        var force = CommandInputs.ForceOption();
        var command = new Command("embed", "Sentence vectors ([CLS], mean-pooled or pooler) as JSON Lines.")
        {
            model, texts, file, pooling, outFile, maxLength, batch, force,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            string mode = parse.GetValue(pooling)!;
            var kind = mode switch
            {
                "cls" => Pooling.Cls, "mean" => Pooling.Mean, "pooler" => Pooling.Pooler,
                _ => throw new BertSharpException($"--pooling: unknown pooling '{mode}' (cls, mean, pooler)", ErrorKind.Usage),
            };
            if (parse.GetValue(batch) < 1) throw new BertSharpException("--batch-size: must be >= 1", ErrorKind.Usage);
            var (modelPath, words) = CommandInputs.ModelAndTexts(parse.GetValue(model), parse.GetValue(texts) ?? [], "embed");
            CommandInputs.CheckOut(parse.GetValue(outFile), folder: false, parse.GetValue(force), modelPath, parse.GetValue(file) is "-" ? null : parse.GetValue(file));
            var inputs = CommandInputs.ReadTexts(words, parse.GetValue(file), "embed");
            var loaded = PretrainedModel.Load(modelPath).To(CliDevice.Current);
            int max = CommandInputs.MaxLength(parse.GetValue(maxLength), loaded.Config);
            var embed = new EmbeddingPipeline(loaded, kind, max, parse.GetValue(batch));
            var results = embed.Run(inputs.Select(t => t.Text).ToList(), cancel);
            for (int i = 0; i < results.Count; i++)
                if (results[i].Vector is null) CliConsole.Err.WriteLine($"warning: {inputs[i].Where}: empty text (no tokens), skipped");
            int written = results.Count(r => r.Vector is not null);
            if (written == 0) throw new BertSharpException("no text to embed: every input was empty");
            string? path = parse.GetValue(outFile);
            void WriteAll(TextWriter w)
            {
                for (int i = 0; i < results.Count; i++)
                {
                    if (results[i].Vector is not { } v) continue;
                    w.WriteLine(JsonSerializer.Serialize(new
                    {
                        input = inputs[i].Where, text = inputs[i].Text, pooling = mode, tokens = results[i].Tokens, truncated = results[i].Truncated, embedding = v,
                    }, CliJson.Line));
                }
            }
            if (path is null) WriteAll(CliConsole.Out);
            else
            {
                AtomicFile.Write(path, s => { using var w = new StreamWriter(s, new UTF8Encoding(false)); WriteAll(w); });
                CliConsole.Err.WriteLine($"wrote {written} {mode} vectors of {embed.Dimensions} floats to {path}");
            }
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
