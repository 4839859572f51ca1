namespace BertSharp.Cli.Commands;

/// <summary>IProgress that calls back on the reporting thread (Progress&lt;T&gt; would post to the thread pool, and the
/// progress display would lag behind or run after the work).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
