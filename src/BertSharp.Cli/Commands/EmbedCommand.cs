using System.CommandLine;
using System.Text;
using System.Text.Json;
using BertSharp.Model;
using BertSharp.Training;
using static BertSharp.Cli.Commands.UseCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp embed</c>: one vector per text to JSON Lines, for downstream use.</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model or checkpoint folder (pretrained or fine-tuned)", Required = true };
        var texts = new Argument<string[]>("text") { Description = "Texts to embed (else --file, else stdin, one text per line)", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "File with one text per line (\"-\" = stdin)" };
        var pooling = new Option<string>("--pooling")
        {
            Description = "cls: last layer's [CLS] vector; mean: mean of the last layer over the real tokens; pooler: tanh pooler output",
            DefaultValueFactory = _ => "cls",
        };
        var outFile = new Option<string?>("--out") { Description = "Output .jsonl (default: stdout)" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per input including [CLS] and [SEP]; longer texts keep head and tail" };
        var batch = new Option<int>("--batch-size") { Description = "Texts per forward pass", DefaultValueFactory = _ => 16 };
        var command = new Command("embed", "Sentence vectors ([CLS], mean-pooled or pooler) as JSON Lines.")
        {
            model, texts, file, pooling, outFile, maxLength, batch,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            string mode = parse.GetValue(pooling)!;
            if (mode is not ("cls" or "mean" or "pooler")) throw new UserException($"--pooling: unknown pooling '{mode}' (cls, mean, pooler)", CliRunner.ExitUsage);
            if (parse.GetValue(batch) < 1) throw new UserException("--batch-size: must be >= 1", CliRunner.ExitUsage);
            var inputs = ReadTexts(parse.GetValue(texts) ?? [], parse.GetValue(file), "embed");
            var m = Load(parse.GetValue(model)!);
            int max = MaxLength(parse.GetValue(maxLength), m.Config);
            var encoder = new ClassificationEncoder(m.Vocabulary!, m.LowerCase, max);
            var kept = new List<(string Where, string Text, LabelledExample Example)>();
            foreach (var (where, text) in inputs)
            {
                var ex = encoder.Encode(text);
                if (ex.Tokens.Length == 0) CliConsole.Err.WriteLine($"warning: {where}: empty text (no tokens), skipped");
                else kept.Add((where, text, ex));
            }
            if (kept.Count == 0) throw new UserException("no text to embed: every input was empty");

            string? path = parse.GetValue(outFile);
            string? tmp = path is null ? null : path + ".tmp";
            TextWriter writer = tmp is null ? CliConsole.Out : new StreamWriter(tmp, false, new UTF8Encoding(false));
            try
            {
                var net = new BertForSequenceClassification(m.Parameters);
                int h = m.Config.HiddenSize;
                var vector = new float[h];
                RunBatches(net, encoder, kept.Select(k => k.Example).ToList(), parse.GetValue(batch), (start, count, seq) =>
                {
                    cancel.ThrowIfCancellationRequested();
                    for (int i = 0; i < count; i++)
                    {
                        var (where, text, ex) = kept[start + i];
                        if (mode == "pooler") net.PooledOutput.Slice(i * h, h).CopyTo(vector);
                        else if (mode == "cls") net.SequenceOutput.Slice(i * seq * h, h).CopyTo(vector);
                        else
                        {
                            int real = ex.Tokens.Length + 2; // [CLS] text [SEP], as HF's mean pooling over attention_mask
                            Array.Clear(vector);
                            for (int t = 0; t < real; t++)
                            {
                                var row = net.SequenceOutput.Slice((i * seq + t) * h, h);
                                for (int k = 0; k < h; k++) vector[k] += row[k];
                            }
                            for (int k = 0; k < h; k++) vector[k] /= real;
                        }
                        writer.WriteLine(JsonSerializer.Serialize(new
                        {
                            input = where, text, pooling = mode, tokens = ex.OriginalTokens, truncated = ex.Truncated, embedding = vector,
                        }));
                    }
                });
            }
            catch
            {
                if (tmp is not null) { writer.Dispose(); File.Delete(tmp); }
                throw;
            }
            if (tmp is not null) writer.Dispose();
            if (path is not null)
            {
                File.Move(tmp!, path, overwrite: true);
                CliConsole.Err.WriteLine($"wrote {kept.Count} {mode} vectors of {m.Config.HiddenSize} floats to {path}");
            }
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
