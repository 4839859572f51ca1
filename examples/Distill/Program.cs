// Distils a fine-tuned classifier (the teacher) into a small student trained on the teacher's soft labels and the true
// ones, then compares their sizes and classifies a few texts with the student: teacher, labelled data, output, student preset.
//   dotnet run -c Release --project examples/Distill -- runs/sample-cls data/aclImdb_v1.tar.gz runs/sample-tiny tiny
using BertSharp.IO;
using BertSharp.Pipelines;
using BertSharp.Runs;

string teacher = args.Length > 0 ? args[0] : "runs/sample-cls";
string data = args.Length > 1 ? args[1] : "data/aclImdb_v1.tar.gz";
string output = args.Length > 2 ? args[2] : "runs/sample-tiny";
string student = args.Length > 3 ? args[3] : "tiny";

var result = new DistillationRun(new DistillationRequest
{
    Teacher = teacher, Student = student, Temperature = 2f, Alpha = 0.5f,
    Training = new FineTuningRequest { Data = data, OutputDir = output, Force = true, MaxTrain = 2000, MaxEval = 500, Epochs = 2, LearningRate = 1e-3 },
}).Run();
Console.WriteLine($"student eval accuracy {result.FinalEvalAccuracy:P1} after {result.History.Count} epochs");
foreach (var (name, path) in new[] { ("teacher", teacher), ("student", output) })
    Console.WriteLine($"{name}: {PretrainedModel.Load(path).Parameters.Layout.ParameterCount:N0} parameters");

var classify = new ClassificationPipeline(PretrainedModel.Load(output), maxLength: result.MaxLength);
string[] texts = ["A wonderful, moving film.", "Dull and far too long; I want my time back."];
foreach (var (text, r) in texts.Zip(classify.Run(texts)))
    Console.WriteLine($"{r.Label,-8} {r.Probability:P1}  {text}");
