using System.Security.Cryptography;
using System.Text.Json;
using BertSharp.Cli;
using BertSharp.Files;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Interface;

/// <summary>Issue 25, the output-safety rule: every command that writes × every way an output can be wrong (it is an
/// input file, lies inside an input folder, contains an input, is a device, a FIFO, a link to a file or to a device,
/// exists without --force) is refused with the README's exit code, before any work, with every input, the target and
/// the folder around them unchanged (hashes and listings compared).</summary>
[Collection("cli")]
public sealed class OutputSafetyTests : IClassFixture<OutputSafetyTests.Inputs>
{
    /// <summary>What the commands read, made once: a corpus folder, a vocabulary, labelled data, texts, token ids, a
    /// tiny IMDB folder, a pretrained run and its HuggingFace export; and the odd targets (FIFO, links, existing outputs).</summary>
    public sealed class Inputs : IDisposable
    {
        internal readonly TempDir Dir = new();
        public string Root => Dir.Path;
        public string In => Dir["in"];
        public string Model => Path.Combine(Root, "m", "model");
        public string Hf => Path.Combine(Root, "h", "hf");
        public string Checkpoint => Path.Combine(Model, "checkpoints", "checkpoint-3");
        public string Teacher => Path.Combine(Root, "t", "teacher");

        public Inputs()
        {
            Directory.CreateDirectory(Path.Combine(In, "corpus"));
            WriteCorpus(Path.Combine(In, "corpus", "a.txt"));
            WriteTinyConfig(Path.Combine(In, "tiny.json"));
            var r = Run(TinyPretrain(Path.Combine(In, "corpus", "a.txt"), Path.Combine(In, "tiny.json"), Model, steps: 3));
            Assert.True(r.Code == 0, r.Err);
            File.Copy(Path.Combine(Model, "vocab.txt"), Path.Combine(In, "vocab.txt"));
            File.WriteAllLines(Path.Combine(In, "data.jsonl"), BertSharp.Tests.Model.ClassifierTests.SentimentTexts(24, 5)
                .Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
            File.WriteAllLines(Path.Combine(In, "texts.txt"), ["a good film", "a bad film"]);
            // distill's teacher: the model fine-tuned on the labelled data.
            r = Run(["finetune", Model, "--data", Path.Combine(In, "data.jsonl"), "--out", Teacher, "--epochs", "1", "--max-length", "16", "--threads", "1", "--report-to", "none"]);
            Assert.True(r.Code == 0, r.Err);
            File.WriteAllText(Path.Combine(In, "ids.json"), """{"input_ids": [[2, 5, 6, 3]]}""");
            foreach (var (name, text) in BertSharp.Tests.Text.TextTestSupport.TinyImdb())
            {
                string path = Path.Combine(In, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text);
            }
            r = Run(["export", Model, "--out", Hf]);
            Assert.True(r.Code == 0, r.Err);
            // The targets that are not inputs: a FIFO, links to a file and to a device, outputs that already exist.
            using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [Dir["fifo"]])) mkfifo.WaitForExit();
            File.WriteAllText(Dir["victim.txt"], "not yours");
            File.CreateSymbolicLink(Dir["link-file"], Dir["victim.txt"]);
            File.CreateSymbolicLink(Dir["link-dev"], "/dev/null");
            File.WriteAllText(Dir["existing.txt"], "mine");
            Directory.CreateDirectory(Dir["existing"]);
            File.WriteAllText(Path.Combine(Dir["existing"], "mine.txt"), "mine");
            Directory.CreateDirectory(Dir["existing-run"]);
            File.WriteAllText(Path.Combine(Dir["existing-run"], "vocab.txt"), "my own vocabulary\n"); // no run made it
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Inputs _x;
    public OutputSafetyTests(Inputs inputs) => _x = inputs;

    /// <summary>One writing command: its arguments for an output, whether the output is a folder, and the three paths
    /// that put the output over its inputs (an input file, a path inside an input folder, a folder containing an input).</summary>
    private sealed record Writer(string Name, Func<string, string[]> Args, bool Folder, string IsInput, string InsideInput, string? ContainsInput,
        bool HasExisting = true);

    private Writer[] Writers()
    {
        string corpus = Path.Combine(_x.In, "corpus"), vocab = Path.Combine(_x.In, "vocab.txt"), m = _x.Model;
        string[] small = ["--threads", "1"];
        return
        [
            new("tokenize", o => ["tokenize", "--corpus", corpus, "--vocab", vocab, "--out", o, .. small], true,
                vocab, Path.Combine(corpus, "store"), _x.In),
            new("tokenizer train", o => ["tokenizer", "train", "--corpus", corpus, "--out", o, "--vocab-size", "60", .. small], false,
                Path.Combine(corpus, "a.txt"), Path.Combine(corpus, "vocab.txt"), _x.In),
            // A run folder may hold the user's other files; it may not have the corpus among the names it writes (corpus/).
            new("pretrain", o => TinyPretrain(corpus, Path.Combine(_x.In, "tiny.json"), o, steps: 3), true,
                corpus, Path.Combine(corpus, "run"), _x.In),
            new("finetune", o => ["finetune", m, "--data", Path.Combine(_x.In, "data.jsonl"), "--out", o, "--epochs", "1", "--max-length", "16", .. small], true,
                Path.Combine(_x.In, "data.jsonl"), Path.Combine(m, "ft"), _x.In),
            new("distill", o => ["distill", _x.Teacher, "--student", "tiny", "--data", Path.Combine(_x.In, "data.jsonl"), "--out", o, "--epochs", "1", .. small], true,
                _x.Teacher, Path.Combine(_x.Teacher, "student"), Path.GetDirectoryName(_x.Teacher)!),
            new("embed", o => ["embed", m, "--file", Path.Combine(_x.In, "texts.txt"), "--out", o], false,
                Path.Combine(_x.In, "texts.txt"), Path.Combine(m, "e.jsonl"), _x.In),
            new("logits", o => ["logits", m, Path.Combine(_x.In, "ids.json"), "--out", o], false,
                Path.Combine(_x.Checkpoint, "model.safetensors"), Path.Combine(m, "l.json"), _x.In),
            new("export", o => ["export", m, "--out", o], true,
                m, Path.Combine(_x.Checkpoint, "hf"), Path.GetDirectoryName(m)!),
            new("import", o => ["import", _x.Hf, "--out", o], true,
                _x.Hf, Path.Combine(_x.Hf, "back"), Path.GetDirectoryName(_x.Hf)!),
            // data's --out is the folder that receives the download and aclImdb/: it may exist and hold the archive.
            new("data", o => ["data", "imdb", "--archive", Path.Combine(_x.In, "aclImdb"), "--out", o], true,
                Path.Combine(_x.In, "aclImdb"), Path.Combine(_x.In, "aclImdb", "data"), null, HasExisting: false),
        ];
    }

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var w in new[] { "tokenize", "tokenizer train", "pretrain", "finetune", "distill", "embed", "logits", "export", "import", "data" })
            foreach (var r in new[] { "is an input file", "inside an input folder", "contains an input", "a device", "a FIFO",
                         "a link to a file", "a link to a device", "exists, no --force" })
                // data's --out is the folder that receives the download and aclImdb/: it may hold the archive and may exist.
                if (!(w == "data" && r is "contains an input" or "exists, no --force")) data.Add(w, r);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EveryWritingCommandRefusesEveryBadOutput(string command, string relation)
    {
        var w = Writers().Single(c => c.Name == command);
        string? output = relation switch
        {
            "is an input file" => w.IsInput,
            "inside an input folder" => w.InsideInput,
            "contains an input" => w.ContainsInput,
            "a device" => "/dev/null",
            "a FIFO" => _x.Dir["fifo"],
            "a link to a file" => _x.Dir["link-file"],
            "a link to a device" => _x.Dir["link-dev"],
            _ => !w.HasExisting ? null : command == "pretrain" ? _x.Dir["existing-run"] : w.Folder ? _x.Dir["existing"] : _x.Dir["existing.txt"],
        };
        Assert.NotNull(output);
        int expected = relation.StartsWith("exists") ? CliRunner.ExitBadInput : CliRunner.ExitUsage;
        string before = Snapshot();
        // A FIFO opened for writing would block: the run gets a deadline instead of hanging the suite.
        var run = Task.Run(() => Run(w.Args(output)));
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(120))) == run, $"{command} --out {output}: still running");
        var r = await run;
        Assert.True(r.Code == expected, $"{command}, output {relation} ({output}): exit {r.Code}, expected {expected}: {r.Err}");
        Assert.Contains(command == "pretrain" ? "--run-dir" : "--out", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'), l => l.StartsWith("error:"));
        Assert.Equal(before, Snapshot());
        Assert.Equal("device", OutputPaths.SpecialFileKind("/dev/null"));
        Assert.Equal("pipe", OutputPaths.SpecialFileKind(_x.Dir["fifo"]));
        Assert.Equal(_x.Dir["victim.txt"], File.ResolveLinkTarget(_x.Dir["link-file"], false)!.FullName);
        Assert.Equal("/dev/null", File.ResolveLinkTarget(_x.Dir["link-dev"], false)!.FullName);
    }

    private string Snapshot() => FolderSnapshot.Of(_x.Root);
}

/// <summary>Issue 25's remaining items that need no trained model: a pipe or device as a corpus is refused (it would be
/// read forever or block), with exit 3 and its name, and no output is left behind.</summary>
[Collection("cli")]
public sealed class SpecialCorpusTests
{
    [Theory]
    [InlineData("/dev/zero", false)]
    [InlineData("fifo", false)]
    [InlineData("fifo", true)]
    public async Task APipeOrDeviceAsACorpusIsRefused(string corpus, bool insideAFolder)
    {
        using var dir = new TempDir();
        string path = corpus.StartsWith('/') ? corpus : dir[corpus];
        string given = path;
        if (insideAFolder)
        {
            Directory.CreateDirectory(dir["texts"]);
            File.WriteAllText(Path.Combine(dir["texts"], "a.txt"), "a film.\n");
            path = Path.Combine(dir["texts"], "b.txt");
            given = dir["texts"];
        }
        if (!corpus.StartsWith('/'))
            using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path])) mkfifo.WaitForExit();
        var run = Task.Run(() => Run(["tokenizer", "train", "--corpus", given, "--out", dir["vocab.txt"]]));
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) == run, $"{given}: still reading");
        var r = await run;
        Assert.Equal(CliRunner.ExitBadInput, r.Code);
        Assert.Contains(path, r.Err);
        Assert.Contains(corpus.StartsWith('/') ? "device" : "pipe", r.Err);
        Assert.False(File.Exists(dir["vocab.txt"]));
    }
}
