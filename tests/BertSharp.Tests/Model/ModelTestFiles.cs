using System.Runtime.CompilerServices;

namespace BertSharp.Tests.Model;

internal static class ModelTestFiles
{
    /// <summary>The committed fixtures folder, found from this source file (no csproj copy step needed).</summary>
    public static string Fixture(string name, [CallerFilePath] string here = "")
        => Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", name);

    public static string NewTempDir()
    {
        string d = Path.Combine(Path.GetTempPath(), "bertsharp-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(d);
        return d;
    }
}
