// Fills the [MASK]s of a text with a pretrained model: a run folder, a checkpoint or a HuggingFace BERT folder.
//   dotnet run --project examples/FillMask -- runs/sample "highly recommended, ten out of [MASK]."
using BertSharp.IO;
using BertSharp.Pipelines;

string modelPath = args.Length > 0 ? args[0] : "runs/sample";
string text = args.Length > 1 ? args[1] : "highly recommended, ten out of [MASK].";

var fill = new FillMaskPipeline(PretrainedModel.Load(modelPath));
foreach (var mask in fill.Run(text, topK: 5).Masks)
{
    Console.WriteLine($"[MASK] at token {mask.Position}:");
    foreach (var p in mask.Predictions)
        Console.WriteLine($"  {p.Token,-16} {p.Probability:P1}");
}
