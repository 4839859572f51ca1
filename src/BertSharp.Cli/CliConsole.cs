namespace BertSharp.Cli;

/// <summary>
/// Where commands write, and whether they face a terminal. Normally the process's console; tests that drive
/// the commands in-process swap in their own writers for the duration of one call (an AsyncLocal, so tests
/// running in parallel do not see each other's output), plus a hook called after each training step.
/// </summary>
public static class CliConsole
{
    private static readonly AsyncLocal<Overrides?> Current = new();

    public sealed class Overrides
    {
        public required TextWriter Out { get; init; }
        public required TextWriter Err { get; init; }
        public TextReader? In { get; init; }
        /// <summary>Called after every training update with the step number (tests cancel from here).</summary>
        public Action<long>? AfterStep { get; init; }
        /// <summary>Called after every evaluation with its step (0: before the first update).</summary>
        public Action<long>? AfterEvaluation { get; init; }
    }

    public static TextWriter Out => Current.Value?.Out ?? Console.Out;
    public static TextWriter Err => Current.Value?.Err ?? Console.Error;
    public static TextReader In => Current.Value?.In ?? Console.In;
    public static Action<long>? AfterStep => Current.Value is { } o ? o.AfterStep : PauseAfterStep;
    public static Action<long>? AfterEvaluation => Current.Value?.AfterEvaluation;

    /// <summary>A test hook for a real process: with BERTSHARP_TEST_PAUSE_STEP=N, after update N (its log lines and
    /// event files written) a line goes to standard error and the process waits to be killed, so a kill -9 test stops
    /// it at a known step rather than by a race with a run that takes milliseconds per step.</summary>
    private static Action<long>? PauseAfterStep =>
        Environment.GetEnvironmentVariable("BERTSHARP_TEST_PAUSE_STEP") is { } n && long.TryParse(n, out long at)
            ? step =>
            {
                if (step != at) return;
                Console.Error.WriteLine($"paused after step {at}");
                Console.Error.Flush();
                Thread.Sleep(Timeout.Infinite);
            }
            : null;

    /// <summary>True when both streams are a real terminal (live progress); false in tests, pipes and CI.</summary>
    public static bool IsTerminal => Current.Value is null && !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="body"/> with these writers in place of the console.</summary>
    public static async Task<T> With<T>(Overrides overrides, Func<Task<T>> body)
    {
        var previous = Current.Value;
        Current.Value = overrides;
        try { return await body(); }
        finally { Current.Value = previous; }
    }
}
