using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using BertSharp.Cuda;
using Xunit.Abstractions;

namespace BertSharp.Tests.Cuda;

/// <summary>
/// The CUDA tests without a GPU: tools/cuda-emu (a CPU stand-in for libcuda, NVRTC and cuBLAS, built here with g++)
/// loaded through <c>BERTSHARP_CUDA_LIBS</c>, so the real <see cref="CudaDevice"/>, P/Invoke layer and kernel sources
/// run unchanged. The emulator is never loaded into the test process itself (there <c>--device auto</c> would pick
/// it for every other test): a test that needs a GPU runs its own body again in a child process of this assembly
/// (<see cref="TestProgram.Main"/>) whose environment points at the emulator. Where a real GPU is usable the body
/// runs in-process on it instead. <c>BERTSHARP_REQUIRE_CUDA_EMU=1</c> (set by .ci/run) makes a missing compiler a
/// failure rather than a skip.
/// </summary>
public static class EmulatedGpu
{
    /// <summary>Set in the child process that runs a test body on the emulator.</summary>
    public const string ChildVariable = "BERTSHARP_CUDA_EMU_CHILD";

    /// <summary>True in a child process running on the emulator.</summary>
    public static bool IsChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>True when CI requires the emulated GPU tests to run (missing g++ fails them).</summary>
    public static bool Required => Environment.GetEnvironmentVariable("BERTSHARP_REQUIRE_CUDA_EMU") == "1";

    /// <summary>The repository (the folder holding BertSharp.slnx above the test assembly).</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "BertSharp.slnx"))) return d.FullName;
        return "";
    }

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    /// <summary>Whether GPU tests can run here on the emulator (or must, under <see cref="Required"/>); else why not.</summary>
    public static bool CanRun(out string why)
    {
        why = "";
        if (!CudaInfo.IsSupportedPlatform) { why = "the CUDA emulator runs on Linux x64 only"; return false; }
        if (RepositoryRoot.Length == 0) { why = "tools/cuda-emu not found above the test assembly"; return false; }
        if (Required) return true;
        if (FindOnPath(Environment.GetEnvironmentVariable("BERTSHARP_CUDA_EMU_CXX") ?? "g++") is null)
        {
            why = "the CUDA emulator needs g++ (apt-get install g++; CI installs it and sets BERTSHARP_REQUIRE_CUDA_EMU=1)";
            return false;
        }
        return true;
    }

    private static readonly Lazy<string> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The folder of the built emulator libraries (tools/cuda-emu/out), built on first use (a few seconds; nothing
    /// when up to date).</summary>
    public static string Folder => Built.Value;

    private static string Build()
    {
        string script = Path.Combine(RepositoryRoot, "tools", "cuda-emu", "build.sh");
        string output = Path.Combine(RepositoryRoot, "tools", "cuda-emu", "out");
        var r = RunProcess("bash", [script, output], new Dictionary<string, string>(), 600);
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"the CUDA emulator did not build (tools/cuda-emu/build.sh, exit {r.ExitCode}): {r.Output.Trim()}");
        return output;
    }

    /// <summary>In a GPU test's body: true when the body has just run, and passed, on the emulator in a child process
    /// (the caller returns); false when the body is to run here (a usable GPU, or this is the child).</summary>
    /// <param name="test">the test class's instance (<c>this</c>)</param>
    /// <param name="log">where the child's output goes</param>
    /// <param name="emulatorOnly">run on the emulator even where a GPU is usable (checks of what the emulator detects)</param>
    /// <param name="environment">more variables for the child</param>
    /// <param name="method">the test method (the caller)</param>
    public static bool RanInChild(object test, ITestOutputHelper? log = null, bool emulatorOnly = false,
        IReadOnlyDictionary<string, string>? environment = null, [CallerMemberName] string method = "")
    {
        if (IsChild || (!emulatorOnly && CudaInfo.Probe().IsUsable)) return false;
        var r = RunChild(test.GetType(), method, environment);
        log?.WriteLine(r.Output);
        Assert.True(r.ExitCode == 0, $"{test.GetType().Name}.{method} on the CUDA emulator: exit {r.ExitCode} after {r.Seconds:F1} s\n{Tail(r.Output, 6000)}");
        return true;
    }

    private static readonly SemaphoreSlim OneChild = new(1, 1);

    /// <summary>Runs <paramref name="type"/>.<paramref name="method"/> in a child process on the emulator.</summary>
    public static ProcessResult RunChild(Type type, string method, IReadOnlyDictionary<string, string>? environment = null, int timeoutSeconds = 600)
    {
        string folder = Folder;
        string stamp = File.Exists(Path.Combine(folder, ".stamp")) ? File.ReadAllText(Path.Combine(folder, ".stamp")).Trim() : "none";
        var env = new Dictionary<string, string>
        {
            [ChildVariable] = "1",
            [CudaLibraries.PathVariable] = folder,
            // Compiled modules are cached per emulator build: the driver's ABI and the device header are in the key.
            ["BERTSHARP_CUDA_CACHE"] = Path.Combine(folder, "cache", stamp, "kernels"),
            ["BERTSHARP_CUDA_EMU_CACHE"] = Path.Combine(folder, "cache", stamp, "nvrtc"),
            ["DOTNET_gcServer"] = "0",
        };
        if (environment is not null)
            foreach (var (k, v) in environment) env[k] = v;
        string dll = typeof(EmulatedGpu).Assembly.Location;
        string dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        OneChild.Wait();
        try
        {
            return RunProcess(dotnet, [dll, TestProgram.RunTestArgument, type.FullName!, method], env, timeoutSeconds);
        }
        finally
        {
            OneChild.Release();
        }
    }

    /// <summary>A finished process: exit code, stdout and stderr interleaved as they came, wall time.</summary>
    public sealed record ProcessResult(int ExitCode, string Output, double Seconds);

    internal static ProcessResult RunProcess(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string> env, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var output = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            lock (output) return new ProcessResult(-1, $"timed out after {timeoutSeconds} s\n{output}", clock.Elapsed.TotalSeconds);
        }
        p.WaitForExit();
        lock (output) return new ProcessResult(p.ExitCode, output.ToString(), clock.Elapsed.TotalSeconds);
    }

    internal static string Tail(string s, int chars) => s.Length <= chars ? s : "..." + s[^chars..];
}

/// <summary>A test output helper for child processes: lines go to stdout, which the parent captures.</summary>
internal sealed class ConsoleTestOutput : ITestOutputHelper
{
    public void WriteLine(string message) => Console.WriteLine(message);
    public void WriteLine(string format, params object[] args) => Console.WriteLine(format, args);
}

/// <summary>The test assembly's entry point (the test SDK's generated one is switched off): with
/// <c>--run-test TYPE METHOD</c> it runs one test method, as xunit would (a fresh instance, ITestOutputHelper to stdout,
/// disposed after), and exits 0 when it passed, 1 with the exception when it failed.</summary>
public static class TestProgram
{
    /// <summary>The first argument that asks for one test.</summary>
    public const string RunTestArgument = "--run-test";

    /// <summary>Runs one test (see the type's summary).</summary>
    public static int Main(string[] args)
    {
        if (args.Length != 3 || args[0] != RunTestArgument)
        {
            Console.Error.WriteLine($"usage: BertSharp.Tests {RunTestArgument} TYPE METHOD (tests run under dotnet test)");
            return 2;
        }
        var type = typeof(TestProgram).Assembly.GetType(args[1]);
        var method = type?.GetMethod(args[2], BindingFlags.Public | BindingFlags.Instance);
        if (type is null || method is null)
        {
            Console.Error.WriteLine($"no test {args[1]}.{args[2]}");
            return 2;
        }
        var clock = Stopwatch.StartNew();
        try
        {
            var ctor = type.GetConstructors().OrderBy(c => c.GetParameters().Length).First();
            var ctorArgs = ctor.GetParameters().Select(p => p.ParameterType == typeof(ITestOutputHelper) ? (object)new ConsoleTestOutput()
                : throw new InvalidOperationException($"{type.Name}: constructor parameter {p.ParameterType.Name} is not supported")).ToArray();
            var instance = ctor.Invoke(ctorArgs);
            try
            {
                method.Invoke(instance, null);
            }
            finally
            {
                (instance as IDisposable)?.Dispose();
            }
            Console.WriteLine($"passed: {type.Name}.{method.Name} in {clock.Elapsed.TotalSeconds:F1} s ({CudaInfo.Probe().Devices.FirstOrDefault()})");
            return 0;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            Console.Error.WriteLine($"FAILED: {type.Name}.{method.Name}: {e.InnerException}");
            return 1;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"FAILED: {type.Name}.{method.Name}: {e}");
            return 1;
        }
    }
}
