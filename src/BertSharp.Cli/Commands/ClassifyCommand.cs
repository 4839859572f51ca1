using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BertSharp.Model;
using BertSharp.Training;
using static BertSharp.Cli.Commands.UseCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp classify</c>: label and probability for each text, with a fine-tuned model.</summary>
public static class ClassifyCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Fine-tuned model folder (the --out of finetune, or an imported BertForSequenceClassification)", Required = true };
        var texts = new Argument<string[]>("text") { Description = "Texts to classify (else --file, else stdin, one text per line)", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "File with one text per line (\"-\" = stdin)" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per input including [CLS] and [SEP] (default: 512 or the model's limit); longer texts keep head and tail" };
        var headTokens = new Option<int?>("--head-tokens") { Description = "Tokens kept from the start of a long text (default: 128/510 of the length, Sun et al. 2019)" };
        var json = new Option<bool>("--json") { Description = "One JSON object per text: label, probability, all probabilities, token count, truncation" };
        var batch = new Option<int>("--batch-size") { Description = "Texts per forward pass", DefaultValueFactory = _ => 16 };
        var command = new Command("classify", "Classify texts with a fine-tuned model: label and probability per text.")
        {
            model, texts, file, maxLength, headTokens, json, batch,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var inputs = ReadTexts(parse.GetValue(texts) ?? [], parse.GetValue(file), "classify");
            var m = Load(parse.GetValue(model)!, requireClassifier: true);
            int max = MaxLength(parse.GetValue(maxLength), m.Config);
            if (parse.GetValue(batch) < 1) throw new UserException("--batch-size: must be >= 1", CliRunner.ExitUsage);
            var encoder = Guard(() => new ClassificationEncoder(m.Vocabulary!, m.LowerCase, max, parse.GetValue(headTokens)));
            var kept = new List<(string Where, LabelledExample Example)>();
            foreach (var (where, text) in inputs)
            {
                var ex = encoder.Encode(text);
                if (ex.Tokens.Length == 0) CliConsole.Err.WriteLine($"warning: {where}: empty text (no tokens), skipped");
                else kept.Add((where, ex));
            }
            if (kept.Count == 0) throw new UserException("no text to classify: every input was empty");
            var labels = m.Labels!;
            var net = new BertForSequenceClassification(m.Parameters);
            bool asJson = parse.GetValue(json);
            var probs = new double[labels.Count];
            RunBatches(net, encoder, kept.Select(k => k.Example).ToList(), parse.GetValue(batch), (start, count, _) =>
            {
                cancel.ThrowIfCancellationRequested();
                var logits = net.Logits;
                for (int i = 0; i < count; i++)
                {
                    var (where, ex) = kept[start + i];
                    Softmax(logits.Slice(i * labels.Count, labels.Count), probs);
                    int best = Array.IndexOf(probs, probs.Max());
                    if (asJson)
                    {
                        var all = new Dictionary<string, double>();
                        for (int k = 0; k < probs.Length; k++) all[labels[k]] = Math.Round(probs[k], 6);
                        CliConsole.Out.WriteLine(JsonSerializer.Serialize(new
                        {
                            input = where, label = labels[best], probability = Math.Round(probs[best], 6), probabilities = all,
                            tokens = ex.OriginalTokens, truncated = ex.Truncated,
                        }));
                    }
                    else
                        CliConsole.Out.WriteLine($"{labels[best]}\t{probs[best].ToString("F4", CultureInfo.InvariantCulture)}"
                            + (ex.Truncated ? $"\t(truncated: {ex.OriginalTokens} tokens, kept first {encoder.HeadTokens} and last {ex.Tokens.Length - Math.Min(encoder.HeadTokens, ex.Tokens.Length)})" : ""));
                }
            });
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }

    private static void Softmax(ReadOnlySpan<float> logits, double[] p)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (var x in logits) max = Math.Max(max, x);
        for (int i = 0; i < logits.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) p[i] /= sum;
    }
}
