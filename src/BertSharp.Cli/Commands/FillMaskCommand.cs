using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Model;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp fill-mask</c>: the most likely tokens for each [MASK] in a text.</summary>
public static class FillMaskCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A run folder (its newest checkpoint) or a checkpoint folder" };
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
            if (k < 1) throw new UserException($"--top-k: must be at least 1, got {k}", CliRunner.ExitUsage);
            var inputs = ModelInputs.ReadTexts(parse.GetValue(texts), parse.GetValue(file), "fill-mask");
            var ckpt = CheckpointLoading.Load(parse.GetValue(model)!);
            var net = new BertForPreTraining(ckpt.Parameters);
            var encoder = new ModelInputs(ckpt);
            var vocab = ckpt.Vocabulary;
            int v = ckpt.Config.VocabSize;
            k = Math.Min(k, v);
            var results = new JsonArray();
            var o = CliConsole.Out;
            foreach (var text in inputs)
            {
                encoder.Encode(text, null);
                if (encoder.MaskCount == 0)
                    throw new UserException($"no [MASK] in \"{Shorten(text)}\"{(encoder.Truncated ? $" within the model's {ckpt.MaxSeqLength} tokens" : "")}");
                if (encoder.Truncated) CliConsole.Err.WriteLine($"warning: \"{Shorten(text)}\" was cut to the model's {ckpt.MaxSeqLength} tokens");
                net.Forward(encoder.Batch(), DropoutContext.Off);
                var masks = new JsonArray();
                if (!parse.GetValue(json)) o.WriteLine(text);
                for (int m = 0; m < encoder.MaskCount; m++)
                {
                    var row = net.Heads.MlmLogits.Slice(m * v, v);
                    ModelInputs.Softmax(row);
                    var top = TopK(row, k);
                    var predictions = new JsonArray();
                    if (!parse.GetValue(json)) o.WriteLine($"  [MASK] {m + 1} (token {encoder.Positions[m]}):");
                    for (int r = 0; r < top.Length; r++)
                    {
                        int id = top[r];
                        predictions.Add(new JsonObject { ["token"] = vocab[id], ["id"] = id, ["probability"] = Math.Round(row[id], 6) });
                        if (!parse.GetValue(json)) o.WriteLine($"    {r + 1,2}. {vocab[id],-20} {row[id],8:P2}   (id {id})");
                    }
                    masks.Add(new JsonObject { ["position"] = encoder.Positions[m], ["predictions"] = predictions });
                }
                results.Add(new JsonObject { ["text"] = text, ["masks"] = masks });
            }
            if (parse.GetValue(json)) o.WriteLine(results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return CliRunner.ExitOk;
        });
        return command;
    }

    internal static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";

    /// <summary>Indices of the k largest values, largest first (ties: lower id first).</summary>
    public static int[] TopK(ReadOnlySpan<float> values, int k)
    {
        var best = new List<int>(k + 1);
        for (int i = 0; i < values.Length; i++)
        {
            if (best.Count == k && values[i] <= values[best[^1]]) continue;
            int at = best.Count;
            while (at > 0 && values[best[at - 1]] < values[i]) at--;
            best.Insert(at, i);
            if (best.Count > k) best.RemoveAt(k);
        }
        return best.ToArray();
    }
}
