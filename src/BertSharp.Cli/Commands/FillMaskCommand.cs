using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.IO;
using BertSharp.Pipelines;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp fill-mask</c>: the most likely tokens for each [MASK] in a text (<see cref="FillMaskPipeline"/>).</summary>
public static class FillMaskCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A run folder (its newest checkpoint), a checkpoint folder or a HuggingFace folder" };
        var texts = new Argument<string[]>("text") { Description = "Texts with [MASK] where a token should be guessed; none: --file or standard input, one text per line", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "Read the texts from this file, one per line (- for standard input)" };
        var topK = new Option<int>("--top-k") { Description = "Tokens to list per [MASK]", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print JSON: [{text, masks: [{position, predictions: [{token, id, probability}]}]}]" };
        var command = new Command("fill-mask", "Guess the tokens hidden by [MASK] (top-k with probabilities), with the tokenizer the model was trained with.")
        {
            model, texts, file, topK, json,
        };
        command.SetAction((ParseResult parse) =>
        {
            int k = parse.GetValue(topK);
            if (k < 1) throw new BertSharpException($"--top-k: must be at least 1, got {k}", ErrorKind.Usage);
            var inputs = CommandInputs.ReadNonBlank(parse.GetValue(texts), parse.GetValue(file), "fill-mask");
            var fill = new FillMaskPipeline(PretrainedModel.Load(parse.GetValue(model)!).To(CliDevice.Current));
            var results = new JsonArray();
            foreach (var text in inputs)
            {
                var r = fill.Run(text, k);
                if (r.Truncated) CliConsole.Err.WriteLine($"warning: \"{CommandInputs.Shorten(text)}\" was cut to the model's {fill.Model.MaxSeqLength} tokens");
                if (parse.GetValue(json)) results.Add(Json(r));
                else Print(r);
            }
            if (parse.GetValue(json)) CliConsole.Out.WriteLine(results.ToJsonString(CliJson.Indented));
            return CliRunner.ExitOk;
        });
        return command;
    }

    private static void Print(FillMaskResult r)
    {
        var o = CliConsole.Out;
        o.WriteLine(r.Text);
        for (int m = 0; m < r.Masks.Count; m++)
        {
            o.WriteLine($"  [MASK] {m + 1} (token {r.Masks[m].Position}):");
            var p = r.Masks[m].Predictions;
            for (int i = 0; i < p.Count; i++)
                o.WriteLine($"    {i + 1,2}. {p[i].Token,-20} {(float)p[i].Probability,8:P2}   (id {p[i].Id})");
        }
    }

    private static JsonObject Json(FillMaskResult r) => new()
    {
        ["text"] = r.Text,
        ["masks"] = new JsonArray(r.Masks.Select(m => (JsonNode)new JsonObject
        {
            ["position"] = m.Position,
            ["predictions"] = new JsonArray(m.Predictions.Select(p => (JsonNode)new JsonObject
            {
                ["token"] = p.Token, ["id"] = p.Id, ["probability"] = Math.Round(p.Probability, 6),
            }).ToArray()),
        }).ToArray()),
    };
}
