using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Model;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp nsp</c>: the probability that text B follows text A (the NSP head).</summary>
public static class NspCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A run folder (its newest checkpoint) or a checkpoint folder" };
        var texts = new Argument<string[]>("texts") { Description = "A and B; none: --file or standard input, one pair per line as A<TAB>B", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "Read pairs from this file, one per line as A<TAB>B (- for standard input)" };
        var json = new Option<bool>("--json") { Description = "Print JSON: [{a, b, is_next_probability}]" };
        var command = new Command("nsp", "Probability that B is the segment that follows A (BERT's next-sentence head).")
        {
            model, texts, file, json,
        };
        command.SetAction((ParseResult parse) =>
        {
            var args = parse.GetValue(texts) ?? [];
            UseCommandSupport.RejectOptionLike(args, "nsp");
            List<(string A, string B)> pairs;
            if (args.Length > 0)
            {
                if (args.Length != 2) throw new UserException($"nsp: give exactly two texts, A and B (got {args.Length})", CliRunner.ExitUsage);
                if (parse.GetValue(file) is not null) throw new UserException("give A and B as arguments or with --file, not both", CliRunner.ExitUsage);
                pairs = [(args[0], args[1])];
            }
            else
            {
                pairs = [];
                foreach (var line in ModelInputs.ReadTexts(null, parse.GetValue(file), "nsp"))
                {
                    int tab = line.IndexOf('\t');
                    if (tab < 0) throw new UserException($"nsp: expected A<TAB>B, got \"{FillMaskCommand.Shorten(line)}\"");
                    pairs.Add((line[..tab], line[(tab + 1)..]));
                }
            }
            var ckpt = CheckpointLoading.Load(parse.GetValue(model)!);
            var net = new BertForPreTraining(ckpt.Parameters);
            var encoder = new ModelInputs(ckpt);
            var results = new JsonArray();
            foreach (var (a, b) in pairs)
            {
                encoder.Encode(a, b);
                if (encoder.Truncated) CliConsole.Err.WriteLine($"warning: the pair was cut to the model's {ckpt.MaxSeqLength} tokens");
                net.Forward(encoder.Batch(), DropoutContext.Off);
                var logits = net.Heads.NspLogits.Slice(0, 2).ToArray();
                ModelInputs.Softmax(logits);
                double p = logits[0]; // label 0 = IsNext
                results.Add(new JsonObject { ["a"] = a, ["b"] = b, ["is_next_probability"] = Math.Round(p, 6) });
                if (!parse.GetValue(json))
                    CliConsole.Out.WriteLine($"{p,7:P1}  B follows A{(pairs.Count > 1 ? $"   ({FillMaskCommand.Shorten(a)} | {FillMaskCommand.Shorten(b)})" : "")}");
            }
            if (parse.GetValue(json)) CliConsole.Out.WriteLine(results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return CliRunner.ExitOk;
        });
        return command;
    }
}
