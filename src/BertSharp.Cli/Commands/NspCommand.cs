using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.IO;
using BertSharp.Pipelines;
using static BertSharp.Cli.Commands.CommandInputs;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp nsp</c>: the probability that text B follows text A (<see cref="NextSentencePipeline"/>).</summary>
public static class NspCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A run folder (its newest checkpoint), a checkpoint folder or a HuggingFace folder" };
        var texts = new Argument<string[]>("texts") { Description = "A and B; none: --file or standard input, one pair per line as A<TAB>B", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "Read pairs from this file, one per line as A<TAB>B (- for standard input)" };
        var json = new Option<bool>("--json") { Description = "Print JSON: [{a, b, is_next_probability}]" };
        var command = new Command("nsp", "Probability that B is the segment that follows A (BERT's next-sentence head).")
        {
            model, texts, file, json,
        };
        command.SetAction((ParseResult parse) =>
        {
            var pairs = ReadPairs(parse.GetValue(texts) ?? [], parse.GetValue(file));
            var nsp = new NextSentencePipeline(PretrainedModel.Load(parse.GetValue(model)!).To(CliDevice.Current));
            var results = new JsonArray();
            foreach (var (a, b) in pairs)
            {
                var r = nsp.Run(a, b);
                if (r.Truncated) CliConsole.Err.WriteLine($"warning: the pair was cut to the model's {nsp.Model.MaxSeqLength} tokens");
                results.Add(new JsonObject { ["a"] = a, ["b"] = b, ["is_next_probability"] = Math.Round(r.IsNextProbability, 6) });
                if (!parse.GetValue(json))
                    CliConsole.Out.WriteLine($"{r.IsNextProbability,7:P1}  B follows A{(pairs.Count > 1 ? $"   ({Shorten(a)} | {Shorten(b)})" : "")}");
            }
            if (parse.GetValue(json)) CliConsole.Out.WriteLine(results.ToJsonString(CliJson.Indented));
            return CliRunner.ExitOk;
        });
        return command;
    }

    private static List<(string A, string B)> ReadPairs(string[] args, string? file)
    {
        RejectOptionLike(args, "nsp");
        if (args.Length > 0)
        {
            if (args.Length != 2) throw new BertSharpException($"nsp: give exactly two texts, A and B (got {args.Length})", ErrorKind.Usage);
            if (file is not null) throw new BertSharpException("give A and B as arguments or with --file, not both", ErrorKind.Usage);
            return [(args[0], args[1])];
        }
        var pairs = new List<(string, string)>();
        foreach (var line in ReadNonBlank(null, file, "nsp"))
        {
            int tab = line.IndexOf('\t');
            if (tab < 0) throw new BertSharpException($"nsp: expected A<TAB>B, got \"{Shorten(line)}\"");
            pairs.Add((line[..tab], line[(tab + 1)..]));
        }
        return pairs;
    }
}
