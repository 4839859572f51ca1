using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.Model;
using BertSharp.Text;
using BertSharp.Runs;
using BertSharp.Training;

namespace BertSharp.Tests.Runs;

/// <summary>Task distillation as a program uses it: the student's start (every k-th teacher layer), the teacher-logit
/// cache (reused, rebuilt when teacher, data or tokenization change), the loss in the classifier (α = 0 is plain
/// fine-tuning bit for bit; the gradient of the mix against finite differences), resume bit for bit, and each refused input.</summary>
public class DistillationTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    private string Data => Path.Combine(_dir, "d.jsonl");
    private string Vocab => Path.Combine(_dir, "vocab.txt");
    private string Teacher => Path.Combine(_dir, "teacher");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class CancelAt(long step, CancellationTokenSource cts) : ITrainerCallback
    {
        public void OnStep(in StepReport s) { if (s.Step == step) cts.Cancel(); }
    }

    public DistillationTests()
    {
        File.WriteAllLines(Data, ClassifierTests.SentimentTexts(64, 9).Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        File.WriteAllLines(Vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "great", "fine", "bad", "awful", "poor",
            "the", "movie", "was", "plot", "acting", "and", "a", "i", "it"]);
        Finetune(Teacher, seed: 3);
    }

    /// <summary>A tiny classifier (2 layers) fine-tuned on the texts.</summary>
    private FineTuningResult Finetune(string output, ulong seed) => new FineTuningRun(new FineTuningRequest
    {
        OutputDir = output, Data = Data, VocabPath = Vocab, Preset = "tiny", MaxLength = 16, Epochs = 3, BatchSize = 16, LearningRate = 1e-3, Seed = seed,
    }) { ReportTo = ReportTo.None }.Run();

    /// <summary>A tiny student distilled from <see cref="Teacher"/> on the same 58 training texts: 2 epochs of 16, 16 tokens.</summary>
    private DistillationRequest Request(string output, string? teacher = null) => new()
    {
        Teacher = teacher ?? Teacher, Student = "tiny", Temperature = 2f, Alpha = 0.7f,
        Training = new FineTuningRequest { OutputDir = Path.Combine(_dir, output), Data = Data, MaxLength = 16, Epochs = 2, BatchSize = 16, LearningRate = 1e-3, Seed = 5 },
    };

    private static FineTuningResult Run(DistillationRequest q, params ITrainerCallback[] callbacks) =>
        new DistillationRun(q) { ReportTo = ReportTo.None, Callbacks = callbacks }.Run();

    private static string CacheUse(FineTuningResult r) =>
        JsonNode.Parse(File.ReadAllText(r.ResultsPath))!["distillation"]!["teacher_logits"]!.GetValue<string>();

    [Fact]
    public void Without_a_length_the_student_reads_as_many_tokens_as_the_teacher_was_fine_tuned_on()
    {
        // The teacher's position table is 512 long (tiny preset), but it was fine-tuned at 16 tokens.
        var q = Request("default-length");
        q = q with { Training = q.Training with { MaxLength = null, Epochs = 1 } };
        var r = Run(q);
        Assert.Equal(16, JsonNode.Parse(File.ReadAllText(r.ResultsPath))!["max_length"]!.GetValue<int>());
    }

    [Fact]
    public void A_run_trains_the_student_and_records_the_teacher_and_the_loss()
    {
        var r = Run(Request("student"));
        Assert.False(r.Interrupted);
        Assert.Equal(8, r.Step);
        Assert.Equal(["neg", "pos"], PretrainedModel.Load(r.OutputDir).Labels);
        var d = JsonNode.Parse(File.ReadAllText(r.ResultsPath))!["distillation"]!;
        Assert.Equal(Teacher, d["teacher"]!.GetValue<string>());
        Assert.Equal((2f, 0.7f, "computed"), (d["temperature"]!.GetValue<float>(), d["alpha"]!.GetValue<float>(), d["teacher_logits"]!.GetValue<string>()));
        Assert.True(File.Exists(Path.Combine(r.OutputDir, TeacherLogits.FileName)));
    }

    [Fact]
    public void The_cached_logits_are_the_teachers_and_are_reused_until_teacher_data_or_tokenization_change()
    {
        var q = Request("cache");
        var first = Run(q);
        Assert.Equal("computed", CacheUse(first));
        // The cache holds the teacher's own logits, in the order of the training texts.
        var teacher = PretrainedModel.Load(Teacher);
        var texts = LabelledCorpus.Open(Data);
        var (held, _) = LabelledCorpus.HoldOut(texts.Train, 0.1, 5);
        var train = LabelledCorpus.Subsample(held, 0, 5); // the run's order: held out, then shuffled
        var examples = ClassificationEncoder.EncodeAll(train, teacher.Vocabulary, teacher.LowerCase, 16, null);
        var cached = TeacherLogits.TryLoad(first.OutputDir, TeacherLogits.Key(teacher.Parameters, examples), examples, 2);
        Assert.NotNull(cached);
        var model = new BertForSequenceClassification(teacher.Parameters);
        var one = new float[2];
        for (int i = 0; i < examples.Length; i += 7)
        {
            var batch = new ClassificationBatcher(teacher.Vocabulary, 1, 16);
            batch.Fill(examples, [i]);
            model.Forward(batch.Batch, DropoutContext.Off);
            model.Device.CopyToHost<float>(model.Logits, one);
            Assert.Equal(one, cached.AsSpan(i * 2, 2).ToArray());
        }

        // The same teacher, data and tokenization again (a repeated run with Force): the teacher does not run.
        var again = Run(q with { Training = q.Training with { Force = true } });
        Assert.Equal("cached", CacheUse(again));
        Assert.Equal(File.ReadAllBytes(Path.Combine(first.OutputDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(again.OutputDir, "model.safetensors")));
        // The same texts in another order (what another seed does to them) read the same cache, each text its own logits.
        var shuffled = examples.Reverse().ToArray();
        var reread = TeacherLogits.TryLoad(first.OutputDir, TeacherLogits.Key(teacher.Parameters, shuffled), shuffled, 2);
        Assert.NotNull(reread);
        for (int i = 0; i < examples.Length; i++)
            Assert.Equal(cached.AsSpan(i * 2, 2).ToArray(), reread.AsSpan((examples.Length - 1 - i) * 2, 2).ToArray());
        // Another tokenization (length), other data (a subset), another teacher: rebuilt.
        Assert.Equal("computed", CacheUse(Run(q with { Training = q.Training with { Force = true, MaxLength = 12 } })));
        Assert.Equal("computed", CacheUse(Run(q with { Training = q.Training with { Force = true, MaxLength = 16, MaxTrain = 40 } })));
        Assert.Equal("cached", CacheUse(Run(q with { Training = q.Training with { Force = true, MaxTrain = 40 } })));
        string other = Path.Combine(_dir, "teacher2");
        Finetune(other, seed: 4);
        Assert.Equal("computed", CacheUse(Run(Request("cache", other) with { Training = q.Training with { Force = true } })));
        // A damaged cache is rebuilt, not an error.
        File.WriteAllText(Path.Combine(first.OutputDir, TeacherLogits.FileName), "not safetensors");
        Assert.Equal("computed", CacheUse(Run(Request("cache", other) with { Training = q.Training with { Force = true } })));
    }

    [Fact]
    public void A_student_with_another_seed_reads_the_cache_of_the_same_texts()
    {
        // With an evaluation file every text trains, in an order the seed shuffles: the texts are the same, so are the logits.
        string eval = Path.Combine(_dir, "eval.jsonl");
        File.WriteAllLines(eval, ClassifierTests.SentimentTexts(16, 11).Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        var q = Request("seeds");
        q = q with { Training = q.Training with { EvalData = eval, Epochs = 1 } };
        Assert.Equal("computed", CacheUse(Run(q)));
        Assert.Equal("cached", CacheUse(Run(q with { Training = q.Training with { Seed = 6, Force = true } })));
    }

    [Fact]
    public void Every_kth_layer_of_the_teacher_copies_the_right_tensors()
    {
        var config = BertConfig.FromPreset("tiny", 40);
        config.NumHiddenLayers = 6;
        var teacher = new BertParameters(config, ["a", "b", "c"]);
        teacher.Initialize(11);
        teacher = teacher.WithClassifier(["a", "b", "c"], 12);
        var student = teacher.EveryKthLayer(2); // 2 layers of 6: k = 3
        Assert.Equal(2, student.Config.NumHiddenLayers);
        Assert.Equal(teacher.Labels, student.Labels);
        foreach (var e in student.Layout.Entries)
        {
            string from = e.Name.StartsWith("bert.encoder.layer.1.", StringComparison.Ordinal) ? e.Name.Replace("layer.1.", "layer.3.")
                : e.Name; // layer 0 ← 0, layer 1 ← 3; embeddings, pooler, heads, classifier as they are
            Assert.Equal(teacher.Read(from), student.Read(e.Name));
        }
        Assert.NotEqual(teacher.Read("bert.encoder.layer.1.attention.self.query.weight"), student.Read("bert.encoder.layer.1.attention.self.query.weight"));
        Assert.Equal(teacher.EveryKthLayer(6).Read("bert.encoder.layer.0.output.dense.weight"), teacher.Read("bert.encoder.layer.0.output.dense.weight"));
        Assert.Throws<ArgumentOutOfRangeException>(() => teacher.EveryKthLayer(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => teacher.EveryKthLayer(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => teacher.EveryKthLayer(7));

        // Through the run: a 1-layer student from the 2-layer teacher keeps the teacher's classifier and layer 0.
        var r = Run(Request("layers") with { Student = null, TeacherLayers = 1, Training = Request("layers").Training with { Epochs = 1, MaxTrain = 16 } });
        Assert.Equal(1, PretrainedModel.Load(r.OutputDir).Config.NumHiddenLayers);
        Assert.Contains("every 2nd layer of the teacher", JsonNode.Parse(File.ReadAllText(r.ResultsPath))!["origin"]!.GetValue<string>());
    }

    [Fact]
    public void Alpha_zero_is_plain_fine_tuning_bit_for_bit()
    {
        // The same student start (random tiny weights of seed 5 with the teacher's vocabulary), the labels alone.
        var plain = new FineTuningRun(new FineTuningRequest
        {
            OutputDir = Path.Combine(_dir, "plain"), Data = Data, VocabPath = Vocab, Preset = "tiny", MaxLength = 16, Epochs = 2, BatchSize = 16,
            LearningRate = 1e-3, Seed = 5,
        }) { ReportTo = ReportTo.None }.Run();
        var zero = Run(Request("alpha0") with { Alpha = 0f });
        Assert.Equal(File.ReadAllBytes(Path.Combine(plain.OutputDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(zero.OutputDir, "model.safetensors")));
        // With the teacher's share, another model.
        var mixed = Run(Request("alpha07"));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(plain.OutputDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(mixed.OutputDir, "model.safetensors")));
    }

    [Fact]
    public void The_gradient_of_the_mixed_loss_matches_finite_differences()
    {
        // A classifier's objective α·T²·KL(t ‖ s) + (1 − α)·CE against central differences, for the classifier's weights
        // and bias and a trunk weight (float32 forward, so a loose tolerance over a step that moves the loss well above its rounding).
        var config = BertConfig.FromPreset("tiny", 20);
        config.HiddenDropoutProb = 0;
        config.AttentionProbsDropoutProb = 0;
        var p = new BertParameters(config, ["neg", "pos", "mid"]);
        p.Initialize(21);
        p = p.WithClassifier(["neg", "pos", "mid"], 22, std: 0.5f);
        var model = new BertForSequenceClassification(p) { Distillation = new DistillationLoss(Temperature: 1.7f, Alpha: 0.6f) };
        var vocab = BertSharp.Text.Vocabulary.Load(Vocab);
        var examples = new[]
        {
            new LabelledExample([5, 11, 12], 1, 3) { TeacherLogits = [0.3f, 2.1f, -1f] },
            new LabelledExample([8, 9, 12, 13, 14], 0, 5) { TeacherLogits = [1.5f, -0.5f, 0.2f] },
            new LabelledExample([7], 2, 1) { TeacherLogits = [-0.2f, 0.1f, 0.9f] },
        };
        var batcher = new ClassificationBatcher(vocab, 3, 8, teacherLogitsPerRow: 3);
        batcher.Fill(examples, [0, 1, 2]);
        double Loss() => model.Forward(batcher.Batch, DropoutContext.Off).Loss;
        p.ZeroGradients();
        Loss();
        model.Backward();
        foreach (var (name, index) in new[] { ("classifier.weight", 5), ("classifier.bias", 2), ("bert.pooler.dense.weight", 17), ("bert.encoder.layer.1.output.dense.bias", 3) })
        {
            float analytic = ReadOne(p, p.Gradients.View(p.Layout[name].Offset + index, 1));
            var values = p.Read(name);
            float x = values[index];
            const float h = 1e-2f;
            values[index] = x + h; p.Write(name, values); double up = Loss();
            values[index] = x - h; p.Write(name, values); double down = Loss();
            values[index] = x; p.Write(name, values);
            double numeric = (up - down) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"{name}[{index}]: analytic {analytic}, numeric {numeric}");
        }
    }

    private static float ReadOne(BertParameters p, BertSharp.Tensors.TensorView v)
    {
        var one = new float[1];
        p.Device.CopyToHost<float>(v, one);
        return one[0];
    }

    [Fact]
    public void An_interrupted_distillation_resumed_gives_the_model_of_an_uninterrupted_one()
    {
        var straight = Run(Request("straight"));
        using var cts = new CancellationTokenSource();
        var q = Request("split");
        var first = new DistillationRun(q) { ReportTo = ReportTo.None, Callbacks = [new CancelAt(5, cts)] }.Run(cts.Token);
        Assert.True(first.Interrupted);
        // The teacher's settings are part of the run: another temperature on resume is refused.
        var other = Assert.Throws<BertSharpException>(() => Run(q with { Temperature = 3f, Training = q.Training with { Resume = true } }));
        Assert.Equal(ErrorKind.Conflict, other.Kind);
        var resumed = Run(q with { Training = q.Training with { Resume = true } });
        Assert.Equal(8, resumed.Step);
        Assert.Equal("cached", CacheUse(resumed));
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight.OutputDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed.OutputDir, "model.safetensors")));
        Assert.Equal(straight.History.Select(h => (h.TrainLoss, h.EvalLoss, h.EvalAccuracy)), resumed.History.Select(h => (h.TrainLoss, h.EvalLoss, h.EvalAccuracy)));
    }

    [Fact]
    public void Each_refused_input_is_a_usage_error_before_any_work()
    {
        BertSharpException Refused(DistillationRequest q)
        {
            var e = Assert.Throws<BertSharpException>(() => Run(q));
            Assert.False(Directory.Exists(q.Training.OutputDir) && Directory.EnumerateFileSystemEntries(q.Training.OutputDir).Any(f => !f.EndsWith(".bertsharp.lock")),
                $"{q.Training.OutputDir} was written: {e.Message}");
            return e;
        }
        // A teacher that is not a classifier: a model without a classifier head (a pretrained one).
        string plain = Path.Combine(_dir, "plain-model");
        var bare = new BertParameters(BertConfig.FromPreset("tiny", 20));
        bare.Initialize(1);
        new ModelFolder { Parameters = bare, Vocabulary = BertSharp.Text.Vocabulary.Load(Vocab) }.Save(plain);
        var e = Refused(Request("x1", plain));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("not a classifier", e.Message);
        // A student with another vocabulary.
        string otherVocab = Path.Combine(_dir, "other-model");
        var words = File.ReadAllLines(Vocab).Append("extra").ToArray();
        var p2 = new BertParameters(BertConfig.FromPreset("tiny", words.Length));
        p2.Initialize(2);
        new ModelFolder { Parameters = p2, Vocabulary = BertSharp.Text.Vocabulary.FromTokens(words) }.Save(otherVocab);
        e = Refused(Request("x2") with { Student = otherVocab });
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("different vocabularies", e.Message);
        // Data whose labels are not the teacher's.
        string three = Path.Combine(_dir, "three.jsonl");
        File.WriteAllLines(three, Enumerable.Range(0, 30).Select(i => JsonSerializer.Serialize(new { text = "the movie was good", label = new[] { "neg", "pos", "mid" }[i % 3] })));
        e = Refused(Request("x3") with { Training = Request("x3").Training with { Data = three } });
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("labels", e.Message);
        // The output folder is the teacher, or holds it.
        var q = Request("x4");
        e = Assert.Throws<BertSharpException>(() => Run(q with { Training = q.Training with { OutputDir = Teacher, Force = true } }));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.True(File.Exists(Path.Combine(Teacher, "model.safetensors")));
        e = Assert.Throws<BertSharpException>(() => Run(q with { Training = q.Training with { OutputDir = _dir, Force = true } }));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        // Out-of-range loss settings, and a student given twice or not at all.
        Assert.Equal(ErrorKind.Usage, Refused(Request("x5") with { Temperature = 0 }).Kind);
        Assert.Equal(ErrorKind.Usage, Refused(Request("x6") with { Alpha = 1.5f }).Kind);
        Assert.Equal(ErrorKind.Usage, Refused(Request("x7") with { TeacherLayers = 1 }).Kind);
        Assert.Equal(ErrorKind.Usage, Refused(Request("x8") with { Student = null }).Kind);
        Assert.Equal(ErrorKind.Usage, Refused(Request("x9") with { Student = null, TeacherLayers = 3 }).Kind);
    }
}
