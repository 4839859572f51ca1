using System.Reflection;
using BertSharp.Tests.IO;

namespace BertSharp.Tests.Examples;

[CollectionDefinition("Examples", DisableParallelization = true)]
public class ExamplesCollection;

/// <summary>
/// The programs in examples/ run as a user runs them (their entry point, with arguments), on tiny data, with
/// their console output captured. They redirect Console, so they run alone.
/// </summary>
[Collection("Examples")]
public class ExamplesTests : IDisposable
{
    private readonly string _dir = Model.ModelTestFiles.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs example <paramref name="name"/>'s Main with <paramref name="args"/>; returns what it printed.</summary>
    internal static string Run(string name, params string[] args)
    {
        var entry = Assembly.Load("BertSharp.Examples." + name).EntryPoint ?? throw new InvalidOperationException($"{name}: no entry point");
        var output = new StringWriter();
        var before = Console.Out;
        Console.SetOut(output);
        try
        {
            var result = entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [args]);
            if (result is Task t) t.GetAwaiter().GetResult();
            if (result is Task<int> ti) Assert.Equal(0, ti.Result);
            if (result is int code) Assert.Equal(0, code);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw new InvalidOperationException($"example {name} failed: {e.InnerException.Message}\n{output}", e.InnerException);
        }
        finally { Console.SetOut(before); }
        return output.ToString();
    }

    [Fact]
    public void Pretrain_prints_the_loss_through_its_callback_and_its_run_fills_masks()
    {
        string run = Path.Combine(_dir, "run");
        string text = Run("Pretrain", "sample", run); // the library's own sample corpus
        var losses = text.Split('\n').Where(l => l.StartsWith("step ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["step 10", "step 20", "step 30", "step 40", "step 50"], losses.Select(l => l[..l.IndexOf(':')]));
        double first = double.Parse(losses[0].Split("loss ")[1], System.Globalization.CultureInfo.InvariantCulture);
        double last = double.Parse(losses[^1].Split("loss ")[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(last < first, $"loss {first} -> {last}");
        Assert.Equal(3, text.Split('\n').Count(l => l.StartsWith("validation at step", StringComparison.Ordinal))); // 0, 25, 50
        Assert.Contains("checkpoint-50", text);
        // The run folder is what the fill-mask example reads.
        string filled = Run("FillMask", run, "this movie was [MASK] .");
        Assert.Single(filled.Split('\n'), l => l.StartsWith("[MASK] at token", StringComparison.Ordinal));
        // ... and the embeddings example ranks its default sentences with it.
        var ranked = Run("Embeddings", run).TrimEnd('\n').Split('\n');
        Assert.Equal(4, ranked.Length);
        Assert.All(ranked, l => Assert.Matches(@"^-?[01]\.\d{3}  \S", l));
    }

    [Fact]
    public void Embeddings_ranks_sentences_by_similarity_to_the_query()
    {
        string model = Path.Combine(_dir, "model");
        HfTestModel.Build().Save(model);
        string[] sentences = ["w20 w21 w22", "w5 w6 w7 w8", "w30 w31", "w9 w10 w11 w12 w13"];
        var lines = Run("Embeddings", [model, "w5 w6 w7 w8", .. sentences]).TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.Equal("1.000  w5 w6 w7 w8", lines[0]); // the query itself is its own nearest neighbour
        var scores = lines.Select(l => double.Parse(l[..l.IndexOf(' ')], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(scores.OrderDescending(), scores);
        Assert.True(scores[1] < 0.9999);
        Assert.Equal(sentences.Order(), lines.Select(l => l[(l.IndexOf(' ') + 2)..]).Order());
    }

    [Fact]
    public void FillMask_prints_the_top_tokens_of_every_mask()
    {
        string model = Path.Combine(_dir, "model");
        HfTestModel.Build().Save(model);
        string text = Run("FillMask", model, "the [MASK] was [MASK] .");
        Assert.Equal(2, text.Split('\n').Count(l => l.StartsWith("[MASK] at token", StringComparison.Ordinal)));
        Assert.Equal(10, text.Split('\n').Count(l => l.StartsWith("  ", StringComparison.Ordinal) && l.TrimEnd().EndsWith('%')));
    }

    [Fact]
    public void FineTune_trains_a_classifier_and_classifies_texts_with_it()
    {
        string model = Path.Combine(_dir, "model"), data = Path.Combine(_dir, "reviews.jsonl"), output = Path.Combine(_dir, "cls");
        HfTestModel.Build().Save(model);
        File.WriteAllLines(data, Enumerable.Range(0, 40).Select(i => System.Text.Json.JsonSerializer.Serialize(new
        {
            text = i % 2 == 0 ? $"w5 w6 w{7 + i % 9} w8" : $"w20 w21 w{22 + i % 9} w23", label = i % 2 == 0 ? "pos" : "neg",
        })));
        string text = Run("FineTune", model, data, output, "16");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Count(l => l.StartsWith("epoch ", StringComparison.Ordinal) && l.Contains("eval accuracy", StringComparison.Ordinal)));
        // The two texts, each with a label of the data and its probability.
        var classified = lines.Where(l => l.StartsWith("pos ", StringComparison.Ordinal) || l.StartsWith("neg ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, classified.Count);
        Assert.All(classified, l => Assert.Contains("%", l));
        Assert.True(File.Exists(Path.Combine(output, "finetune_results.json")));
        Assert.Equal(["neg", "pos"], BertSharp.IO.PretrainedModel.Load(output).Labels);
    }

    [Fact]
    public void Distill_teaches_a_tiny_student_from_a_fine_tuned_teacher()
    {
        string model = Path.Combine(_dir, "model"), data = Path.Combine(_dir, "reviews.jsonl"), teacher = Path.Combine(_dir, "cls"), output = Path.Combine(_dir, "tiny");
        HfTestModel.Build().Save(model);
        File.WriteAllLines(data, Enumerable.Range(0, 40).Select(i => System.Text.Json.JsonSerializer.Serialize(new
        {
            text = i % 2 == 0 ? $"w5 w6 w{7 + i % 9} w8" : $"w20 w21 w{22 + i % 9} w23", label = i % 2 == 0 ? "pos" : "neg",
        })));
        Run("FineTune", model, data, teacher, "16");
        var lines = Run("Distill", teacher, data, output, "tiny").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.StartsWith("student eval accuracy ", StringComparison.Ordinal) && l.EndsWith("after 2 epochs", StringComparison.Ordinal));
        long Count(string who) => long.Parse(lines.Single(l => l.StartsWith(who + ": ", StringComparison.Ordinal)).Split(' ')[1].Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(BertSharp.IO.PretrainedModel.Load(teacher).Parameters.Layout.ParameterCount, Count("teacher"));
        Assert.Equal(BertSharp.IO.PretrainedModel.Load(output).Parameters.Layout.ParameterCount, Count("student"));
        Assert.Equal(2, lines.Count(l => l.StartsWith("pos ", StringComparison.Ordinal) || l.StartsWith("neg ", StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(output, BertSharp.Runs.TeacherLogits.FileName)));
    }
}
