namespace BertSharp.Bench;

/// <summary>One benchmark suite, selected by name on the command line.</summary>
public interface IBenchSuite
{
    string Name { get; }
    string Description { get; }
    int Run(string[] args);
}
