using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace BertSharp.Tests.Distributed;

/// <summary>A fact that needs Open MPI's mpirun: skipped where it is missing, except under CI
/// (BERTSHARP_REQUIRE_MPI=1, set by .ci/run, which installs Open MPI), where the test then fails.</summary>
public sealed class RequiresMpiFactAttribute : FactAttribute
{
    public RequiresMpiFactAttribute()
    {
        if (MpiJob.Mpirun is null && !MpiJob.Required)
            Skip = "needs mpirun (apt-get install openmpi-bin libopenmpi-dev); CI installs it and sets BERTSHARP_REQUIRE_MPI=1";
    }
}

/// <summary>Runs the bertsharp command line (the build's BertSharp.Cli.dll) as a real process, alone or under mpirun.</summary>
internal static class MpiJob
{
    public sealed record Result(int Code, string Out, string Err, double Seconds);

    public static bool Required => Environment.GetEnvironmentVariable("BERTSHARP_REQUIRE_MPI") == "1";

    public static string? Mpirun { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    public static string Cli => Path.Combine(AppContext.BaseDirectory, "BertSharp.Cli.dll");

    /// <summary>mpirun's options for <paramref name="ranks"/> processes on this machine (root allowed, more ranks than cores allowed).</summary>
    public static List<string> MpirunArgs(int ranks, params string[] extra)
    {
        if (Mpirun is null) throw new InvalidOperationException("mpirun is not installed (BERTSHARP_REQUIRE_MPI=1): apt-get install openmpi-bin libopenmpi-dev");
        return ["--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(), .. extra];
    }

    /// <summary>Starts `[mpirun ARGS] dotnet BertSharp.Cli.dll ARGS`; <paramref name="mpirun"/> null runs one plain process.</summary>
    public static Process Start(List<string>? mpirun, IEnumerable<string> args, StringBuilder output, StringBuilder error)
    {
        var psi = new ProcessStartInfo(mpirun is null ? "dotnet" : Mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        if (mpirun is not null)
        {
            foreach (var a in mpirun) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("dotnet");
        }
        psi.ArgumentList.Add(Cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    public static Result Run(List<string>? mpirun, IEnumerable<string> args, int timeoutSeconds = 120)
    {
        var (o, e) = (new StringBuilder(), new StringBuilder());
        var clock = Stopwatch.StartNew();
        using var p = Start(mpirun, args, o, e);
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"no exit within {timeoutSeconds} s: {string.Join(' ', args)}\n{e}");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, o.ToString(), e.ToString(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>The training rows of a run's metrics.jsonl: step → (loss, grad norm), full precision.</summary>
    public static Dictionary<long, (double Loss, double GradNorm)> TrainingRows(string runDir)
    {
        var rows = new Dictionary<long, (double, double)>();
        foreach (var line in File.ReadLines(Path.Combine(runDir, "metrics.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            if (r.GetProperty("split").GetString() != "train") continue;
            rows[r.GetProperty("step").GetInt64()] = (r.GetProperty("loss").GetDouble(), r.GetProperty("grad_norm").GetDouble());
        }
        return rows;
    }

    /// <summary>The processes of this machine whose environment holds NAME=VALUE.</summary>
    public static List<int> ProcessesWith(string name, string value)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (env.Contains($"{name}={value}")) found.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return found;
    }
}
