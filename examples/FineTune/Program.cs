// Fine-tunes a pretrained model to classify texts, then classifies a few: a model (run, checkpoint or HuggingFace
// folder), labelled data (.jsonl with "text" and "label", a folder per label, or IMDB), an output folder, tokens per text.
//   dotnet run -c Release --project examples/FineTune -- runs/sample data/aclImdb_v1.tar.gz runs/sample-cls 128
using BertSharp.IO;
using BertSharp.Pipelines;
using BertSharp.Runs;

string model = args.Length > 0 ? args[0] : "runs/sample";
string data = args.Length > 1 ? args[1] : "data/aclImdb_v1.tar.gz";
string output = args.Length > 2 ? args[2] : "runs/sample-cls";
int maxLength = args.Length > 3 ? int.Parse(args[3]) : 128;

var result = new FineTuningRun(new FineTuningRequest
{
    Model = model, Data = data, OutputDir = output, Force = true,
    MaxTrain = 2000, MaxEval = 500, MaxLength = maxLength, Epochs = 2, LearningRate = 1e-4,
}).Run();
foreach (var epoch in result.History)
    Console.WriteLine($"epoch {epoch.Epoch}: train loss {epoch.TrainLoss:F4}, eval accuracy {epoch.EvalAccuracy:P1}");

var classify = new ClassificationPipeline(PretrainedModel.Load(output), maxLength: result.MaxLength);
string[] texts = ["A wonderful, moving film.", "Dull and far too long; I want my time back."];
foreach (var (text, r) in texts.Zip(classify.Run(texts)))
    Console.WriteLine($"{r.Label,-8} {r.Probability:P1}  {text}");
