// Pretrains a tiny BERT for 50 steps on a text corpus (vocabulary, tokenized store, NSP/MLM items, training),
// printing the loss through a training callback. The run folder is resumable and loads in every command.
//   dotnet run --project examples/Pretrain -- my-corpus.txt runs/example
using BertSharp.Runs;
using BertSharp.Training;

// "sample": the bundled sample corpus, built into the library (BertSharp.Text.SampleCorpus).
string corpus = args.Length > 0 ? args[0] : "sample";
string runDir = args.Length > 1 ? args[1] : "runs/example";

var run = PretrainingRun.Open(new PretrainingRequest
{
    Corpus = corpus, RunDir = runDir, Preset = "tiny", VocabSize = 1000, SeqLength = 64, BatchSize = 16,
    Steps = 50, Warmup = 5, LearningRate = 2e-3, EvalEvery = 25,
});
run.Callbacks = [new PrintLoss()];
var result = run.Run();
Console.WriteLine($"checkpoint: {result.FinalCheckpoint}");

sealed class PrintLoss : ITrainerCallback
{
    public void OnStep(in StepReport s) { if (s.Step % 10 == 0) Console.WriteLine($"step {s.Step}: loss {s.Loss:F3}"); }
    public void OnEvaluation(EvaluationReport e) => Console.WriteLine($"validation at step {e.Step}: MLM accuracy {e.MlmAccuracy:P1}");
}
