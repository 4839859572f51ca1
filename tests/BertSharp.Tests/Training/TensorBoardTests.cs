using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Tests.Cli;
using BertSharp.Tests.Model;

namespace BertSharp.Tests.Training;

/// <summary>Issue 23, item 4: pretrain writes TensorBoard event files; read back here by an independent reader written
/// from the format's specification (TFRecord framing, CRC32C bit by bit, protobuf wire format by hand), every value
/// and step equal to metrics.jsonl, and a resumed run after a kill leaves no step twice.</summary>
public class TensorBoardTests : IDisposable
{
    private readonly string _dir = ModelTestFiles.NewTempDir();
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>One Event: its step, wall time, file_version (if any) and summary scalars.</summary>
    private sealed record Event(long Step, double WallTime, string? FileVersion, Dictionary<string, float> Scalars);

    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit as the standard defines it.</summary>
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    private static uint Mask(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);

    private static ulong Varint(byte[] b, ref int at)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[at++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return v;
        }
    }

    /// <summary>Every record of the file, checked: both CRCs, nothing left over.</summary>
    private static List<Event> ReadEvents(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(Mask(Crc32C(bytes.AsSpan(at, 8))), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            var data = bytes.AsSpan(at + 12, (int)length).ToArray();
            Assert.Equal(Mask(Crc32C(data)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            at += 16 + (int)length;
            events.Add(ParseEvent(data));
        }
        return events;
    }

    private static Event ParseEvent(byte[] b)
    {
        long step = 0; double wall = 0; string? version = null;
        var scalars = new Dictionary<string, float>();
        for (int at = 0; at < b.Length;)
        {
            ulong key = Varint(b, ref at);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            if (field == 1 && wire == 1) { wall = BitConverter.ToDouble(b, at); at += 8; }
            else if (field == 2 && wire == 0) step = (long)Varint(b, ref at);
            else if (field == 3 && wire == 2) { int n = (int)Varint(b, ref at); version = Encoding.UTF8.GetString(b, at, n); at += n; }
            else if (field == 5 && wire == 2)
            {
                int n = (int)Varint(b, ref at), end = at + n;
                while (at < end)
                {
                    Assert.Equal(1UL << 3 | 2, Varint(b, ref at)); // Summary.value
                    int vn = (int)Varint(b, ref at), vend = at + vn;
                    string? tag = null; float? value = null;
                    while (at < vend)
                    {
                        ulong vk = Varint(b, ref at);
                        if (vk == (1 << 3 | 2)) { int tn = (int)Varint(b, ref at); tag = Encoding.UTF8.GetString(b, at, tn); at += tn; }
                        else if (vk == (2 << 3 | 5)) { value = BitConverter.ToSingle(b, at); at += 4; }
                        else throw new InvalidDataException($"unexpected Summary.Value field {vk >> 3}");
                    }
                    scalars.Add(tag!, value!.Value);
                }
            }
            else throw new InvalidDataException($"unexpected Event field {field} (wire type {wire})");
        }
        return new Event(step, wall, version, scalars);
    }

    private static List<Event> Folder(string dir)
    {
        var file = Assert.Single(Directory.GetFiles(dir, "events.out.tfevents.*"));
        var events = ReadEvents(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        return events.Skip(1).ToList();
    }

    private static List<JsonElement> Rows(string run, string split) =>
        File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("split").GetString() == split).ToList();

    /// <summary>Every metrics.jsonl row of both splits has exactly one event at its step with its values (as float32).</summary>
    private static void AssertMatchesMetrics(string run)
    {
        var train = Folder(Path.Combine(run, "tensorboard", "train"));
        var trainRows = Rows(run, "train");
        Assert.Equal(trainRows.Select(r => r.GetProperty("step").GetInt64()), train.Select(e => e.Step));
        foreach (var (row, e) in trainRows.Zip(train))
        {
            Assert.Equal((float)row.GetProperty("loss").GetDouble(), e.Scalars["loss"]);
            Assert.Equal((float)row.GetProperty("mlm_loss").GetDouble(), e.Scalars["mlm_loss"]);
            Assert.Equal((float)row.GetProperty("nsp_loss").GetDouble(), e.Scalars["nsp_loss"]);
            Assert.Equal((float)row.GetProperty("mlm_acc").GetDouble(), e.Scalars["mlm_accuracy"]);
            Assert.Equal((float)row.GetProperty("nsp_acc").GetDouble(), e.Scalars["nsp_accuracy"]);
            Assert.Equal((float)row.GetProperty("lr").GetDouble(), e.Scalars["learning_rate"]);
            Assert.Equal((float)row.GetProperty("grad_norm").GetDouble(), e.Scalars["grad_norm"]);
            Assert.True(e.Scalars["tokens_per_second"] > 0);
            Assert.InRange(e.WallTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        }
        var validation = Folder(Path.Combine(run, "tensorboard", "validation"));
        var validationRows = Rows(run, "validation");
        Assert.Equal(validationRows.Select(r => r.GetProperty("step").GetInt64()), validation.Select(e => e.Step));
        foreach (var (row, e) in validationRows.Zip(validation))
        {
            Assert.Equal((float)row.GetProperty("loss").GetDouble(), e.Scalars["loss"]);
            Assert.Equal((float)row.GetProperty("mlm_acc").GetDouble(), e.Scalars["mlm_accuracy"]);
            Assert.Equal((float)row.GetProperty("nsp_acc").GetDouble(), e.Scalars["nsp_accuracy"]);
            Assert.Equal((float)Math.Exp(row.GetProperty("mlm_loss").GetDouble()), e.Scalars["perplexity"]);
        }
    }

    [Fact]
    public void The_crc_is_crc32c()
    {
        var check = "123456789"u8;
        Assert.Equal(0xE3069283u, Crc32C(check)); // the standard's check value
        Assert.Equal(0xE3069283u, TfRecord.Crc32C(check));
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        for (int n = 0; n < 40; n++) Assert.Equal(Crc32C(data.AsSpan(n, 950)), TfRecord.Crc32C(data.AsSpan(n, 950)));
    }

    [Fact]
    public void Pretrain_writes_every_step_and_evaluation_and_a_resume_after_a_kill_repeats_none()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run");
        var r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, run, steps: 6));
        Assert.True(r.Code == 0, r.Err);
        AssertMatchesMetrics(run);
        Assert.Equal([1L, 2, 3, 4, 5, 6], Folder(Path.Combine(run, "tensorboard", "train")).Select(e => e.Step));
        Assert.Equal([0L, 3, 6], Folder(Path.Combine(run, "tensorboard", "validation")).Select(e => e.Step));

        // What kill -9 during step 6's checkpoint leaves: steps 4–6 logged, checkpoint-6 missing, a torn record at the end.
        Directory.Delete(Path.Combine(run, "checkpoints", "checkpoint-6"), recursive: true);
        string trainFile = Directory.GetFiles(Path.Combine(run, "tensorboard", "train"), "events.out.tfevents.*").Single();
        using (var f = new FileStream(trainFile, FileMode.Append)) f.Write([0x20, 0, 0, 0, 0, 0, 0, 0, 0x13, 0x37]);
        r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, run, steps: 6));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("resum", r.Out + r.Err, StringComparison.OrdinalIgnoreCase);
        AssertMatchesMetrics(run); // the same file, continued: steps 1–6 once each, values of the resumed run
        Assert.Equal([1L, 2, 3, 4, 5, 6], Folder(Path.Combine(run, "tensorboard", "train")).Select(e => e.Step));
        Assert.Equal([0L, 3, 6], Folder(Path.Combine(run, "tensorboard", "validation")).Select(e => e.Step));
    }

    [Fact]
    public void Report_to_none_writes_no_event_files_and_an_unknown_target_is_exit_2()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run");
        var r = CliTestSupport.Run([.. CliTestSupport.TinyPretrain(corpus, config, run, steps: 3), "--report-to", "wandb"]);
        Assert.Equal(2, r.Code);
        Assert.Equal("error: --report-to 'wandb': expected tensorboard or none", Assert.Single(r.Err.Split('\n'), l => l.StartsWith("error:")));
        Assert.False(Directory.Exists(run));
        r = CliTestSupport.Run([.. CliTestSupport.TinyPretrain(corpus, config, run, steps: 3), "--report-to", "none"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(Path.Combine(run, "metrics.jsonl")));
        Assert.False(Directory.Exists(Path.Combine(run, "tensorboard")));
    }

    /// <summary>Starts <c>dotnet BertSharp.Cli.dll ARGS</c> as a real process that pauses after update
    /// <paramref name="pauseAfter"/> (BERTSHARP_TEST_PAUSE_STEP), waits for that, and kills it with SIGKILL.</summary>
    private static string RunAndKillAfterStep(string[] args, long pauseAfter)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "BertSharp.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["BERTSHARP_TEST_PAUSE_STEP"] = pauseAfter.ToString();
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var err = new StringBuilder();
        var paused = new ManualResetEventSlim();
        using var p = new Process { StartInfo = psi };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (err) err.AppendLine(e.Data);
            if (e.Data == $"paused after step {pauseAfter}") paused.Set();
        };
        p.OutputDataReceived += (_, _) => { };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool reached = paused.Wait(TimeSpan.FromSeconds(180));
        bool exited = p.HasExited;
        if (!exited) p.Kill(); // SIGKILL: no handler runs, nothing is flushed or closed by the process
        p.WaitForExit();
        lock (err)
        {
            Assert.True(reached && !exited, $"never paused after step {pauseAfter} (exited: {exited})\n{err}");
            Assert.Equal(137, p.ExitCode); // 128 + SIGKILL
            return err.ToString();
        }
    }

    /// <summary>Steps of the train events, as the files hold them now.</summary>
    private static List<long> TrainSteps(string run) => Folder(Path.Combine(run, "tensorboard", "train")).Select(e => e.Step).ToList();

    [Fact]
    public void A_pretrain_killed_with_sigkill_after_a_checkpoint_and_resumed_has_every_step_once_with_its_values()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string run = Path.Combine(_dir, "run"), straight = Path.Combine(_dir, "straight");
        // Checkpoints and evaluations at 3, 6, 9; the kill lands after step 5: checkpoint-3 is the newest, steps 4 and 5
        // are in the event file (and metrics.jsonl) and must be cut, then redone, by the resume.
        RunAndKillAfterStep(CliTestSupport.TinyPretrain(corpus, config, run, steps: 9), pauseAfter: 5);
        Assert.True(Directory.Exists(Path.Combine(run, "checkpoints", "checkpoint-3")));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoints", "checkpoint-6")));
        Assert.Equal([1L, 2, 3, 4, 5], TrainSteps(run));

        var r = CliTestSupport.Run([.. CliTestSupport.TinyPretrain(corpus, config, run, steps: 9), "--resume"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("resuming from", r.Err);
        AssertMatchesMetrics(run);
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7, 8, 9], TrainSteps(run));
        Assert.Equal([0L, 3, 6, 9], Folder(Path.Combine(run, "tensorboard", "validation")).Select(e => e.Step));

        // The resumed run is bit-exact, so its events carry the values of a run never killed.
        r = CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, straight, steps: 9));
        Assert.True(r.Code == 0, r.Err);
        AssertSameValues(straight, run);
    }

    [Fact]
    public void A_finetune_killed_with_sigkill_after_a_checkpoint_and_resumed_has_every_step_once_with_its_values()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string model = Path.Combine(_dir, "model"), data = Path.Combine(_dir, "reviews.jsonl");
        Assert.Equal(0, CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, model, steps: 3)).Code);
        File.WriteAllLines(data, ClassifierTests.SentimentTexts(40, 5)
            .Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        string[] Finetune(string output) =>
            ["finetune", model, "--data", data, "--out", output, "--epochs", "3", "--batch-size", "8", "--max-length", "16", "--log-every", "0", "--threads", "1"];
        string ft = Path.Combine(_dir, "ft"), straight = Path.Combine(_dir, "straight");

        // 36 training texts in batches of 8: 5 updates an epoch, an evaluation (and the first one's best checkpoint) at
        // step 5; the kill lands after step 7, whose events must be cut and redone.
        RunAndKillAfterStep(Finetune(ft), pauseAfter: 7);
        Assert.True(Directory.Exists(Path.Combine(ft, "checkpoints", "checkpoint-5")));
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7], TrainSteps(ft));
        Assert.Equal([5L], Folder(Path.Combine(ft, "tensorboard", "validation")).Select(e => e.Step));

        var r = CliTestSupport.Run([.. Finetune(ft), "--resume"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(Enumerable.Range(1, 15).Select(i => (long)i), TrainSteps(ft));
        var validation = Folder(Path.Combine(ft, "tensorboard", "validation"));
        Assert.Equal([5L, 10, 15], validation.Select(e => e.Step));
        // The validation events carry finetune_results.json's per-epoch figures; the train events' per-batch losses
        // average to its per-epoch training loss.
        var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(ft, "finetune_results.json"))).RootElement.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(3, history.Count);
        var train = Folder(Path.Combine(ft, "tensorboard", "train"));
        foreach (var (h, e) in history.Zip(validation))
        {
            Assert.Equal(h.GetProperty("step").GetInt64(), e.Step);
            Assert.Equal((float)h.GetProperty("eval_loss").GetDouble(), e.Scalars["loss"]);
            Assert.Equal((float)h.GetProperty("eval_accuracy").GetDouble(), e.Scalars["accuracy"]);
            var epoch = train.Where(t => t.Step > e.Step - 5 && t.Step <= e.Step).ToList();
            // Batches of 8, 8, 8, 8, 4: the epoch's loss is the text-weighted mean of the batch losses.
            double mean = epoch.Select((t, i) => t.Scalars["loss"] * (i < 4 ? 8.0 : 4.0)).Sum() / 36;
            Assert.Equal(h.GetProperty("train_loss").GetDouble(), mean, 1e-5);
        }
        Assert.All(train, e => Assert.Equal(["accuracy", "grad_norm", "learning_rate", "loss", "tokens_per_second"], e.Scalars.Keys.Order()));

        // The resumed run is bit-exact, so its events carry the values of a run never killed.
        r = CliTestSupport.Run(Finetune(straight));
        Assert.True(r.Code == 0, r.Err);
        AssertSameValues(straight, ft);
        // The model folder holds the event files beside its checkpoints.
        Assert.True(File.Exists(Path.Combine(ft, "model.safetensors")));
    }

    /// <summary>Both runs' events have the same steps and values in both folders (tokens/s and wall times aside).</summary>
    private static void AssertSameValues(string expected, string actual)
    {
        foreach (var split in new[] { "train", "validation" })
        {
            var a = Folder(Path.Combine(expected, "tensorboard", split));
            var b = Folder(Path.Combine(actual, "tensorboard", split));
            Assert.Equal(a.Select(e => e.Step), b.Select(e => e.Step));
            foreach (var (x, y) in a.Zip(b))
            {
                Assert.Equal(x.Scalars.Keys.Order(), y.Scalars.Keys.Order());
                foreach (var (tag, value) in x.Scalars)
                    if (tag != "tokens_per_second") Assert.True(value.Equals(y.Scalars[tag]), $"{split} step {x.Step} {tag}: {value} vs {y.Scalars[tag]}");
            }
        }
    }

    [Fact]
    public void Finetune_report_to_none_writes_no_event_files_and_an_unknown_target_is_exit_2()
    {
        string corpus = CliTestSupport.WriteCorpus(Path.Combine(_dir, "corpus.txt"));
        string config = CliTestSupport.WriteTinyConfig(Path.Combine(_dir, "config.json"));
        string model = Path.Combine(_dir, "model"), data = Path.Combine(_dir, "reviews.jsonl"), ft = Path.Combine(_dir, "ft");
        Assert.Equal(0, CliTestSupport.Run(CliTestSupport.TinyPretrain(corpus, config, model, steps: 3)).Code);
        File.WriteAllLines(data, ClassifierTests.SentimentTexts(20, 5)
            .Select(t => JsonSerializer.Serialize(new { text = t.Text, label = t.Label == 1 ? "pos" : "neg" })));
        string[] args = ["finetune", model, "--data", data, "--out", ft, "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--log-every", "0", "--threads", "1"];
        var r = CliTestSupport.Run([.. args, "--report-to", "wandb"]);
        Assert.Equal(2, r.Code);
        Assert.Equal("error: --report-to 'wandb': expected tensorboard or none", Assert.Single(r.Err.Split('\n'), l => l.StartsWith("error:")));
        Assert.False(Directory.Exists(ft));
        r = CliTestSupport.Run([.. args, "--report-to", "none"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(Path.Combine(ft, "finetune_results.json")));
        Assert.False(Directory.Exists(Path.Combine(ft, "tensorboard")));
    }
}
