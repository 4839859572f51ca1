using System.Diagnostics;
using System.Text;
using BertSharp.IO;

namespace BertSharp.Tests.Distributed;

/// <summary>
/// Real MPI jobs (Open MPI's mpirun, 2 ranks) of the bertsharp command line: 20 steps of the bundled sample's tiny
/// pretraining with dropout equal those of one process (losses per step, final parameters) over shared memory and over
/// TCP loopback; rank 0 alone prints; an error or a killed rank ends the whole job, and the run resumes on one process.
/// </summary>
[Collection("mpi")] // one MPI job at a time: the machine has few cores
public sealed class MpiPretrainTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "bertsharp-mpi-" + Guid.NewGuid().ToString("N")[..8]);

    public MpiPretrainTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static string[] Pretrain(string runDir, int steps = 20, int checkpointEvery = 10) =>
    [
        "pretrain", "--run-dir", runDir, "--steps", steps.ToString(), "--dropout", "0.1", "--eval-every", "10",
        "--checkpoint-every", checkpointEvery.ToString(), "--eval-batches", "2", "--threads", "1",
    ];

    private static readonly object Gate = new();
    private static string? _single;

    /// <summary>The 1-process run every comparison is against (made once).</summary>
    private static string SingleRun()
    {
        lock (Gate)
        {
            if (_single is not null) return _single;
            string dir = Path.Combine(Path.GetTempPath(), "bertsharp-mpi-single-" + Guid.NewGuid().ToString("N")[..8]);
            var r = MpiJob.Run(null, Pretrain(dir));
            Assert.True(r.Code == 0, $"single process: exit {r.Code}\n{r.Err}");
            return _single = dir;
        }
    }

    [RequiresMpiFact]
    public void Two_ranks_equal_one_process_over_shared_memory() => SameAsOneProcess();

    [RequiresMpiFact]
    public void Two_ranks_equal_one_process_over_tcp_loopback() => SameAsOneProcess("--mca", "btl", "tcp,self");

    private void SameAsOneProcess(params string[] mca)
    {
        string single = SingleRun();
        string dir = Path.Combine(_root, "two");
        var r = MpiJob.Run(MpiJob.MpirunArgs(2, mca), Pretrain(dir));
        Assert.True(r.Code == 0, $"mpirun -np 2: exit {r.Code}\n{r.Err}");

        // Rank 0 alone prints: one model line (which names the two ranks), one result.
        Assert.Single(r.Err.Split('\n'), l => l.Contains("model: "));
        Assert.Contains("x 2 ranks (MPI (Open MPI", r.Err);
        Assert.Single(r.Out.Split('\n'), l => l.Contains("done: "));
        // ... and writes the same run folder a single process does.
        Assert.Equal(Files(single), Files(dir));

        // The same items, the same updates: losses and gradient norms per step, then the parameters.
        var expected = MpiJob.TrainingRows(single);
        var actual = MpiJob.TrainingRows(dir);
        Assert.Equal(20, expected.Count);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (step, e) in expected)
        {
            var a = actual[step];
            Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * Math.Abs(e.Loss), $"step {step}: loss {a.Loss} vs {e.Loss}");
            Assert.True(Math.Abs(a.GradNorm - e.GradNorm) <= 1e-5 * e.GradNorm, $"step {step}: gradient norm {a.GradNorm} vs {e.GradNorm}");
        }
        var w1 = PretrainedModel.Load(Path.Combine(single, "checkpoints", "checkpoint-20")).Parameters.ToArray();
        var w2 = PretrainedModel.Load(Path.Combine(dir, "checkpoints", "checkpoint-20")).Parameters.ToArray();
        Assert.Equal(w1.Length, w2.Length);
        double diff = 0, norm = 0;
        for (int i = 0; i < w1.Length; i++) { diff += (double)(w1[i] - w2[i]) * (w1[i] - w2[i]); norm += (double)w1[i] * w1[i]; }
        double rel = Math.Sqrt(diff / norm);
        Assert.True(rel <= 1e-5, $"final parameters differ by {rel:E2} (relative)");
    }

    [RequiresMpiFact]
    public void Two_ranks_distil_as_one_process_each_running_the_teacher_on_its_slice()
    {
        // The teacher: the sample's tiny model after a few steps; the students: the same run taught by it, 1 and 2 processes.
        string teacher = Path.Combine(_root, "teacher");
        var t = MpiJob.Run(null, Pretrain(teacher, steps: 10));
        Assert.True(t.Code == 0, $"teacher: exit {t.Code}\n{t.Err}");
        string[] Distil(string dir) => [.. Pretrain(dir, steps: 10), "--teacher", teacher];
        string one = Path.Combine(_root, "distil-1"), two = Path.Combine(_root, "distil-2");
        var r1 = MpiJob.Run(null, Distil(one));
        Assert.True(r1.Code == 0, $"one process: exit {r1.Code}\n{r1.Err}");
        var r2 = MpiJob.Run(MpiJob.MpirunArgs(2), Distil(two));
        Assert.True(r2.Code == 0, $"mpirun -np 2: exit {r2.Code}\n{r2.Err}");
        Assert.Single(r2.Err.Split('\n'), l => l.StartsWith("teacher: ", StringComparison.Ordinal));
        var expected = MpiJob.TrainingRows(one);
        var actual = MpiJob.TrainingRows(two);
        Assert.Equal(10, expected.Count);
        foreach (var (step, e) in expected)
        {
            var a = actual[step];
            Assert.True(Math.Abs(a.Loss - e.Loss) <= 1e-5 * Math.Abs(e.Loss), $"step {step}: objective {a.Loss} vs {e.Loss}");
            Assert.True(Math.Abs(a.GradNorm - e.GradNorm) <= 1e-5 * e.GradNorm, $"step {step}: gradient norm {a.GradNorm} vs {e.GradNorm}");
        }
        Assert.Contains("\"soft_loss\"", File.ReadAllText(Path.Combine(two, "metrics.jsonl")));
    }

    /// <summary>The run folder's files (relative paths), without the timing-dependent ones' contents.</summary>
    private static List<string> Files(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order().ToList();

    [RequiresMpiFact]
    public void A_bad_input_on_the_ranks_ends_the_job_with_the_readmes_exit_code()
    {
        var r = MpiJob.Run(MpiJob.MpirunArgs(2), ["pretrain", "--corpus", Path.Combine(_root, "missing.txt"), "--run-dir", Path.Combine(_root, "bad")], 60);
        Assert.Equal(3, r.Code);
        Assert.Contains("error: --corpus:", r.Err);
    }

    [RequiresMpiFact]
    public void Killing_a_rank_ends_the_job_and_the_run_resumes_on_one_process()
    {
        string dir = Path.Combine(_root, "killed");
        string tag = Guid.NewGuid().ToString("N");
        var (o, e) = (new StringBuilder(), new StringBuilder());
        var args = Pretrain(dir, steps: 60, checkpointEvery: 10);
        using var job = MpiJob.Start(MpiJob.MpirunArgs(2, "-x", $"BERTSHARP_TEST_TAG={tag}"), args.Append("--verbose"), o, e);
        string first = Path.Combine(dir, "checkpoints", "checkpoint-10");
        var wait = Stopwatch.StartNew();
        while (!Directory.Exists(first) && !job.HasExited && wait.Elapsed.TotalSeconds < 60) Thread.Sleep(50);
        Assert.True(Directory.Exists(first), $"no checkpoint-10 within 60 s (exited: {job.HasExited})\n{e}");
        var victims = MpiJob.ProcessesWith("BERTSHARP_TEST_TAG", tag).Where(p => MpiJob.ProcessesWith("OMPI_COMM_WORLD_RANK", "1").Contains(p)).ToList();
        Assert.Single(victims);
        Assert.False(job.HasExited, "the job ended before the kill: make the run longer");
        var clock = Stopwatch.StartNew();
        Process.GetProcessById(victims[0]).Kill();  // SIGKILL
        bool ended = job.WaitForExit(30_000);
        if (!ended) job.Kill(entireProcessTree: true);
        Assert.True(ended, $"the job was still running 30 s after rank 1 was killed\n{e}");
        Assert.NotEqual(0, job.ExitCode);
        Assert.True(clock.Elapsed.TotalSeconds < 30);

        // The last complete checkpoint is where one process continues (the data order is global).
        string latest = Checkpoint.Latest(Path.Combine(dir, "checkpoints"))!;
        Assert.NotNull(latest);
        var resumed = MpiJob.Run(null, args);
        Assert.True(resumed.Code == 0, $"resume: exit {resumed.Code}\n{resumed.Err}");
        Assert.Contains($"resuming from {latest}", resumed.Err);
        Assert.Contains("done: 60 steps", resumed.Out);
    }
}
