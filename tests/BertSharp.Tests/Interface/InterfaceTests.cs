using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using BertSharp.Cli;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Interface;

/// <summary>Issue 17, "install and run as users expect": the packages' metadata, the program's name in help, an unknown
/// command, and every <c>bertsharp ...</c> line of the README and docs parsing with the command tree as printed.</summary>
[Collection("cli")]
public class InterfaceTests
{
    private static string RepoRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    private static Dictionary<string, string> Properties(params string[] files)
    {
        var result = new Dictionary<string, string>();
        foreach (var f in files)
            foreach (var e in XDocument.Load(Path.Combine(RepoRoot(), f)).Descendants("PropertyGroup").Elements())
                result[e.Name.LocalName] = e.Value.Trim();
        return result;
    }

    [Fact]
    public void TheCliPacksAsTheBertsharpTool()
    {
        var p = Properties("Directory.Build.props", "src/BertSharp.Cli/BertSharp.Cli.csproj");
        Assert.Equal("true", p["PackAsTool"]);
        Assert.Equal("bertsharp", p["ToolCommandName"]);
        Assert.Equal("BertSharp.Cli", p["PackageId"]);
        Assert.Equal("true", p["IsPackable"]);
        Assert.True(p["Description"].Length > 40, "a real description");
        Assert.Contains("README.md", File.ReadAllText(Path.Combine(RepoRoot(), "src/BertSharp.Cli/BertSharp.Cli.csproj")));
    }

    [Fact]
    public void TheLibraryPacksWithGalleryMetadata()
    {
        var p = Properties("Directory.Build.props", "src/BertSharp/BertSharp.csproj");
        Assert.Equal("BertSharp", p["PackageId"]);
        Assert.Equal("true", p["IsPackable"]);
        Assert.True(p["Description"].Length > 40, "a real description, not NuGet's \"Package Description\"");
        Assert.Equal("MIT", p["PackageLicenseExpression"]);
        Assert.StartsWith("https://", p["RepositoryUrl"]);
        Assert.StartsWith("https://", p["PackageProjectUrl"]);
        Assert.False(string.IsNullOrWhiteSpace(p["Authors"]));
        Assert.Equal("README.md", p["PackageReadmeFile"]);
        Assert.Equal("true", p["GenerateDocumentationFile"]);
        Assert.Equal("true", p["IncludeSymbols"]);
        Assert.Equal("snupkg", p["SymbolPackageFormat"]);
        Assert.Contains("README.md", File.ReadAllText(Path.Combine(RepoRoot(), "src/BertSharp/BertSharp.csproj")));
        // Only the library and the tool pack: tests, examples and benchmarks do not.
        Assert.Equal("false", Properties("Directory.Build.props")["IsPackable"]);
        Assert.Contains("/artifacts/", File.ReadAllText(Path.Combine(RepoRoot(), ".gitignore")));
    }

    [Fact]
    public void TheReadmeSaysHowToInstallTheTool()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        Assert.Contains("dotnet pack -c Release -o artifacts", readme);
        Assert.Contains("dotnet tool install --global --add-source ./artifacts BertSharp.Cli", readme);
    }

    [Fact]
    public void HelpNamesTheProgramBertsharp()
    {
        var r = Run(["--help"]);
        Assert.Equal(0, r.Code);
        Assert.Contains("bertsharp [command] [options]", r.Out);
        Assert.DoesNotContain("BertSharp.Cli", r.Out);
        Assert.DoesNotContain("testhost", r.Out);
        var sub = Run(["info", "--help"]);
        Assert.Contains("bertsharp info", sub.Out);
    }

    [Theory]
    [InlineData("pretrian")]
    [InlineData("fill_mask")]
    public void AnUnknownCommandListsTheCommands(string word)
    {
        var r = Run([word, "runs/x"]);
        Assert.Equal(CliRunner.ExitUsage, r.Code);
        Assert.Contains($"'{word}' is not a bertsharp command", r.Err);
        foreach (var c in new[] { "pretrain", "fill-mask", "finetune", "export", "import", "info" }) Assert.Contains(c, r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void NoCommandIsStillRefusedAsBefore()
    {
        var r = Run([]);
        Assert.Equal(CliRunner.ExitUsage, r.Code);
        Assert.Contains("the commands are: info, data, tokenizer", r.Err);
    }

    public static TheoryData<string, int, string> DocumentedCommandLines()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var doc in new[] { "README.md", "docs/USE.md", "docs/TEXT.md", "docs/PERFORMANCE.md", "docs/RESULTS.md" })
            foreach (var (line, command) in BertsharpLines(File.ReadAllText(Path.Combine(RepoRoot(), doc))))
                data.Add(doc, line, command);
        return data;
    }

    [Fact]
    public void TheReadmeHasCommandLinesToCheck() =>
        Assert.True(BertsharpLines(File.ReadAllText(Path.Combine(RepoRoot(), "README.md"))).Count() >= 20);

    [Theory]
    [MemberData(nameof(DocumentedCommandLines))]
    public void EveryDocumentedCommandLineParses(string doc, int line, string command)
    {
        var args = ShellWords(command).Skip(1).Where(a => a != "--verbose").ToArray();
        var errors = CliRunner.CreateRoot().Parse(args).Errors;
        Assert.True(errors.Count == 0, $"{doc}:{line}: {command}\n  -> {string.Join("; ", errors.Select(e => e.Message))}");
    }

    /// <summary>Each <c>bertsharp ...</c> command of a markdown text, with its line: in code blocks (a line that starts
    /// with it, or a pipeline stage; continuation lines joined; shell variables assigned in the block expanded;
    /// comments dropped) and in inline code spans.</summary>
    internal static IEnumerable<(int Line, string Command)> BertsharpLines(string markdown)
    {
        var lines = markdown.Replace("\r", "").Split('\n');
        var vars = new Dictionary<string, string>();
        bool inCode = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string l = lines[i];
            if (l.TrimStart().StartsWith("```")) { inCode = !inCode; vars.Clear(); continue; }
            if (!inCode)
            {
                foreach (Match m in Regex.Matches(l, "`(bertsharp [^`]+)`"))
                    if (!m.Groups[1].Value.Contains("...") && !Regex.IsMatch(m.Groups[1].Value, "[A-Z]{3,}"))
                        yield return (i + 1, m.Groups[1].Value);
                continue;
            }
            int start = i;
            string joined = l;
            while (joined.EndsWith('\\') && i + 1 < lines.Length) joined = joined[..^1] + " " + lines[++i].Trim();
            joined = StripComment(joined).Trim();
            if (Regex.IsMatch(joined, @"^[A-Za-z_]\w*="))
            {
                foreach (var assignment in joined.Split(';'))
                {
                    var a = assignment.Trim();
                    int eq = a.IndexOf('=');
                    if (eq > 0) vars[a[..eq]] = string.Join(' ', ShellWords(Expand(a[(eq + 1)..], vars)));
                }
                continue;
            }
            foreach (var stage in joined.Split(" | "))
            {
                string s = stage.Trim();
                if (s.StartsWith("bertsharp ")) yield return (start + 1, Expand(s, vars));
            }
        }
    }

    private static string Expand(string s, Dictionary<string, string> vars)
    {
        // ${NAME/pattern/replacement} (bash's substitution), then ${NAME} and $NAME.
        s = Regex.Replace(s, @"\$\{([A-Za-z_]\w*)/([^/}]*)/([^}]*)\}",
            m => vars.TryGetValue(m.Groups[1].Value, out var v) ? v.Replace(m.Groups[2].Value, m.Groups[3].Value) : m.Value);
        return Regex.Replace(s, @"\$\{?([A-Za-z_]\w*)\}?", m => vars.TryGetValue(m.Groups[1].Value, out var v) ? v : m.Value);
    }

    private static string StripComment(string line)
    {
        char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote != '\0') { if (c == quote) quote = '\0'; }
            else if (c is '"' or '\'') quote = c;
            else if (c == '#' && (i == 0 || char.IsWhiteSpace(line[i - 1]))) return line[..i];
        }
        return line;
    }

    /// <summary>Splits a command line as a POSIX shell does (single and double quotes, backslash escapes).</summary>
    internal static List<string> ShellWords(string line)
    {
        var words = new List<string>();
        var w = new StringBuilder();
        bool any = false;
        char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote == '\'') { if (c == '\'') quote = '\0'; else w.Append(c); continue; }
            if (quote == '"')
            {
                if (c == '"') quote = '\0';
                else if (c == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\' or '$') w.Append(line[++i]);
                else w.Append(c);
                continue;
            }
            if (char.IsWhiteSpace(c)) { if (any) words.Add(w.ToString()); w.Clear(); any = false; continue; }
            any = true;
            if (c is '"' or '\'') quote = c;
            else if (c == '\\' && i + 1 < line.Length) w.Append(line[++i]);
            else w.Append(c);
        }
        if (any) words.Add(w.ToString());
        return words;
    }

    [Fact]
    public void ShellWordsSplitsLikeAShell() =>
        Assert.Equal(["fill-mask", "runs/x", "ten out of [MASK].", "it's", "a b", ""],
            ShellWords("fill-mask runs/x \"ten out of [MASK].\" 'it'\\''s' a\\ b ''"));
}
