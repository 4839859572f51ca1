using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Pipelines;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp classify</c>: label and probability for each text, with a fine-tuned model (<see cref="ClassificationPipeline"/>).</summary>
public static class ClassifyCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "The model folder, when not given as the first argument" };
        var texts = new Argument<string[]>("model-and-texts")
        {
            Description = "The fine-tuned model folder (the --out of finetune, or an imported BertForSequenceClassification), then the texts to classify (else --file, else stdin, one text per line)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var file = new Option<string?>("--file") { Description = "File with one text per line (\"-\" = stdin)" };
        var maxLength = new Option<int?>("--max-length") { Description = "Tokens per input including [CLS] and [SEP] [default: 512 or the model's limit]; longer texts keep head and tail" };
        var headTokens = new Option<int?>("--head-tokens") { Description = "Tokens kept from the start of a long text [default: 128/510 of the length, Sun et al. 2019]" };
        var json = new Option<bool>("--json") { Description = "One JSON object per text: label, probability, all probabilities, token count, truncation" };
        var batch = new Option<int>("--batch-size") { Description = "Texts per forward pass", DefaultValueFactory = _ => 16 };
        var command = new Command("classify", "Classify texts with a fine-tuned model: label and probability per text.")
        {
            model, texts, file, maxLength, headTokens, json, batch,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            var (modelPath, words) = CommandInputs.ModelAndTexts(parse.GetValue(model), parse.GetValue(texts) ?? [], "classify");
            var inputs = CommandInputs.ReadTexts(words, parse.GetValue(file), "classify");
            var loaded = PretrainedModel.Load(modelPath).To(CliDevice.Current);
            int max = CommandInputs.MaxLength(parse.GetValue(maxLength), loaded.Config);
            if (parse.GetValue(batch) < 1) throw new BertSharpException("--batch-size: must be >= 1", ErrorKind.Usage);
            var classify = new ClassificationPipeline(loaded, max, parse.GetValue(headTokens), parse.GetValue(batch));
            var results = classify.Run(inputs.Select(t => t.Text).ToList(), cancel);
            if (results.All(r => r.Label is null)) throw new BertSharpException("no text to classify: every input was empty");
            for (int i = 0; i < results.Count; i++)
            {
                var (where, r) = (inputs[i].Where, results[i]);
                if (r.Label is null) { CliConsole.Err.WriteLine($"warning: {where}: empty text (no tokens), skipped"); continue; }
                if (parse.GetValue(json))
                {
                    var all = new Dictionary<string, double>();
                    for (int k = 0; k < r.Probabilities.Count; k++) all[loaded.Labels![k]] = Math.Round(r.Probabilities[k], 6);
                    CliConsole.Out.WriteLine(JsonSerializer.Serialize(new
                    {
                        input = where, label = r.Label, probability = Math.Round(r.Probability, 6), probabilities = all,
                        tokens = r.Tokens, truncated = r.Truncated,
                    }, CliJson.Line));
                }
                else
                    CliConsole.Out.WriteLine($"{r.Label}\t{r.Probability.ToString("F4", CultureInfo.InvariantCulture)}"
                        + (r.Truncated ? $"\t(truncated: {r.Tokens} tokens, kept first {classify.HeadTokens} and last {r.KeptTokens - Math.Min(classify.HeadTokens, r.KeptTokens)})" : ""));
            }
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
