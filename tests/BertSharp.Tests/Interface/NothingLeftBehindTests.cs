using System.Security.Cryptography;
using BertSharp.Cli;
using BertSharp.Files;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Interface;

/// <summary>Issue 25, item 3: a command that fails after its output would have been made (the input is bad only once it
/// is read) leaves the folder around its output as it found it: no <c>.tmp</c>, no lock, no empty output or run folder,
/// not even the missing parents of the output it created.</summary>
[Collection("cli")]
public sealed class NothingLeftBehindTests : IClassFixture<OutputSafetyTests.Inputs>
{
    private readonly OutputSafetyTests.Inputs _x;
    public NothingLeftBehindTests(OutputSafetyTests.Inputs inputs) => _x = inputs;

    /// <summary>Bad inputs that pass every check made before the work (they exist, they have the right names).</summary>
    private string Bad(string name) => Path.Combine(_x.Root, "bad", name);

    private void MakeBadInputs()
    {
        if (Directory.Exists(Path.Combine(_x.Root, "bad"))) return;
        Directory.CreateDirectory(Bad("empty-corpus"));
        File.WriteAllText(Path.Combine(Bad("empty-corpus"), "a.txt"), "\n\n");
        File.WriteAllText(Bad("empty.txt"), "\n\n");
        // Labelled data whose third line is not JSON.
        File.WriteAllLines(Bad("data.jsonl"), ["{\"text\": \"a good film\", \"label\": \"pos\"}", "{\"text\": \"a bad film\", \"label\": \"neg\"}", "{not json"]);
        // Token ids beyond the vocabulary.
        File.WriteAllText(Bad("ids.json"), """{"input_ids": [[2, 99999, 3]]}""");
        // A model and a HuggingFace folder whose weights are cut short.
        foreach (var (from, to) in new[] { (_x.Checkpoint, Bad("model")), (_x.Hf, Bad("hf")) })
        {
            Directory.CreateDirectory(to);
            foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
            string weights = Path.Combine(to, "model.safetensors");
            File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..200]);
        }
        // An archive that is not one.
        File.WriteAllBytes(Bad("aclImdb_v1.tar.gz"), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    public static TheoryData<string> Commands() =>
        ["tokenize", "tokenizer train", "pretrain", "finetune", "embed", "logits", "export", "import", "data"];

    private string[] Args(string command, string output) => command switch
    {
        "tokenize" => ["tokenize", "--corpus", Bad("empty-corpus"), "--vocab", Path.Combine(_x.In, "vocab.txt"), "--out", output, "--threads", "1"],
        "tokenizer train" => ["tokenizer", "train", "--corpus", Bad("empty-corpus"), "--out", output, "--vocab-size", "60", "--threads", "1"],
        "pretrain" => TinyPretrain(Bad("empty.txt"), Path.Combine(_x.In, "tiny.json"), output, steps: 3),
        "finetune" => ["finetune", _x.Model, "--data", Bad("data.jsonl"), "--out", output, "--epochs", "1", "--max-length", "16", "--threads", "1"],
        "embed" => ["embed", Bad("model"), "--file", Path.Combine(_x.In, "texts.txt"), "--out", output],
        "logits" => ["logits", _x.Model, Bad("ids.json"), "--out", output],
        "export" => ["export", Bad("model"), "--out", output],
        "import" => ["import", Bad("hf"), "--out", output],
        "data" => ["data", "imdb", "--archive", Bad("aclImdb_v1.tar.gz"), "--out", output],
        _ => throw new ArgumentException(command),
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void AFailedCommandLeavesTheFolderAroundItsOutputUnchanged(string command)
    {
        MakeBadInputs();
        // The output's parent does not exist either: neither may be left behind.
        string output = Path.Combine(_x.Root, "new-" + command.Replace(' ', '-'), "out" + (command is "tokenizer train" ? ".txt" : command is "embed" ? ".jsonl" : command is "logits" ? ".json" : ""));
        string before = Snapshot();
        var r = Run(Args(command, output));
        Assert.True(r.Code is not (CliRunner.ExitOk or CliRunner.ExitFailure), $"{command}: exit {r.Code}: {r.Err}");
        Assert.Single(r.Err.Trim().Split('\n'), l => l.StartsWith("error:"));
        Assert.Equal(before, Snapshot());
    }

    /// <summary>A disk that fills up in the middle of a write (a 64 KiB tmpfs, mounted by the test): exit 3, and no
    /// temporary file or folder, no lock and no empty folder left; what pretraining completed before is kept.</summary>
    [NeedsTmpfsFact]
    public void AWriteThatRunsOutOfSpaceLeavesNoTemporaryFileOrLock()
    {
        string full = Path.Combine(_x.Root, "full");
        Assert.Null(NeedsTmpfsFactAttribute.Mount(full, 64));
        try
        {
            foreach (var args in new[]
            {
                new[] { "export", _x.Model, "--out", Path.Combine(full, "x", "hf") },
                TinyPretrain(Path.Combine(_x.In, "corpus", "a.txt"), Path.Combine(_x.In, "tiny.json"), Path.Combine(full, "run"), steps: 3),
            })
            {
                var r = Run(args);
                Assert.True(r.Code == CliRunner.ExitBadInput, $"{args[0]}: exit {r.Code}: {r.Err}");
                Assert.Contains("No space left", r.Err);
                var left = Directory.GetFileSystemEntries(full, "*", SearchOption.AllDirectories).Select(e => Path.GetRelativePath(full, e)).ToList();
                Assert.DoesNotContain(left, e => e.Contains(".tmp") || e.EndsWith(RunLock.FileName));
                Assert.DoesNotContain(left, e => Directory.Exists(Path.Combine(full, e)) && !Directory.EnumerateFileSystemEntries(Path.Combine(full, e)).Any());
                if (args[0] == "export") Assert.Empty(left);
            }
        }
        finally { NeedsTmpfsFactAttribute.Unmount(full); }
    }

    private string Snapshot() => FolderSnapshot.Of(_x.Root);
}
