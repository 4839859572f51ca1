using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace BertSharp.Tests;

/// <summary>The folder rule of docs/ARCHITECTURE.md, checked on the sources: each folder of the library uses only
/// the folders below it, so there are no import cycles and the compute core knows nothing of models or files.</summary>
public class ArchitectureTests
{
    /// <summary>Who may use whom (besides itself, the root namespace's BertSharpException and <see cref="Bottom"/>).</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Files"] = [],
        ["Tensors"] = [],
        ["Distributed"] = ["Tensors"],
        ["Text"] = [],
        ["Data"] = ["Tensors", "Text"],
        ["Model"] = ["Tensors", "Data"],
        ["IO"] = ["Tensors", "Text", "Data", "Model"],
        ["Training"] = ["Tensors", "Distributed", "Text", "Data", "Model", "IO"],
        ["Runs"] = ["Tensors", "Distributed", "Text", "Data", "Model", "IO", "Training"],
        ["Pipelines"] = ["Tensors", "Text", "Data", "Model", "IO"],
        ["Cuda"] = ["Tensors"],
        ["Onnx"] = ["Tensors", "Text", "Data", "Model", "IO"],
    };

    /// <summary>The bottom layer every folder may use: atomic writes, the folder swap, path helpers, the run lock,
    /// output-path safety. It uses no other folder of the library.</summary>
    private const string Bottom = "Files";

    private static string Library([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "src", "BertSharp"));

    private static string Tests([CallerFilePath] string here = "") => Path.GetDirectoryName(here)!;

    [Fact]
    public void Each_folder_uses_only_the_folders_below_it()
    {
        var folders = Directory.GetDirectories(Library()).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToList();
        Assert.Equal(Allowed.Keys.Order(), folders.Order()!); // a new folder needs a place in the rule
        var reference = new Regex(@"\bBertSharp\.(Files|Tensors|Distributed|Text|Data|Model|IO|Training|Runs|Pipelines|Cuda|Onnx)\b");
        var violations = new List<string>();
        foreach (var folder in Allowed.Keys)
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Library(), folder), "*.cs", SearchOption.AllDirectories))
            {
                var text = File.ReadAllText(file);
                foreach (Match m in reference.Matches(text))
                {
                    string used = m.Groups[1].Value;
                    if (used != folder && used != Bottom && !Allowed[folder].Contains(used)) violations.Add($"{folder}/{Path.GetFileName(file)} uses {used}");
                }
            }
        Assert.Empty(violations.Distinct());
    }

    [Fact]
    public void The_files_layer_uses_no_other_folder_of_the_library()
    {
        // Every folder may use Files, so Files may use none of them: a reference the other way would be a cycle.
        Assert.Empty(Allowed[Bottom]);
        var reference = new Regex(@"\bBertSharp\.(?!Files\b)[A-Z][A-Za-z]*\b");
        var violations = Directory.EnumerateFiles(Path.Combine(Library(), Bottom), "*.cs", SearchOption.AllDirectories)
            .SelectMany(f => reference.Matches(File.ReadAllText(f)).Select(m => $"{Path.GetFileName(f)} uses {m.Value}"))
            .Where(v => !v.EndsWith("BertSharp.BertSharpException")).ToList();
        Assert.Empty(violations);
    }

    /// <summary>Sources a generator writes (their types are named by it). The ONNX schema's classes are generated into
    /// obj/ by protoc at build time (Onnx/Proto/onnx.proto), so no source of theirs is checked.</summary>
    private static readonly string[] Generated = ["Text/BertUnicodeData.g.cs"];

    [Fact]
    public void Every_library_file_declares_one_top_level_type_named_after_it()
    {
        // With a file-scoped namespace every top-level type starts at column 0 and nested types are indented, so the
        // declarations at column 0 are the file's types. A partial type's other files are named Type.Aspect.cs.
        var declaration = new Regex(@"^(?:\[[^\]]*\]\s*)?(?<mods>(?:(?:public|internal|file|static|sealed|abstract|readonly|partial|ref|unsafe)\s+)*)"
            + @"(?:record\s+(?:class\s+|struct\s+)?|class\s+|struct\s+|interface\s+|enum\s+|delegate\s+[\w<>\[\]?,]+\s+)(?<name>\w+)", RegexOptions.Multiline);
        var problems = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Library(), "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(Library(), file).Replace('\\', '/');
            if (relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal)
                || Generated.Contains(relative)) continue;
            string text = File.ReadAllText(file);
            if (!Regex.IsMatch(text, @"^namespace [\w.]+;", RegexOptions.Multiline)) { problems.Add($"{relative}: no file-scoped namespace"); continue; }
            var types = declaration.Matches(text).Select(m => (Name: m.Groups["name"].Value, Partial: m.Groups["mods"].Value.Contains("partial"))).ToList();
            string stem = Path.GetFileNameWithoutExtension(file);
            if (types.Count != 1) problems.Add($"{relative}: {types.Count} top-level types ({string.Join(", ", types.Select(t => t.Name))})");
            else if (types[0].Name != stem && !(types[0].Partial && stem.StartsWith(types[0].Name + ".", StringComparison.Ordinal)))
                problems.Add($"{relative}: declares {types[0].Name}");
        }
        Assert.Empty(problems);
        Assert.All(Generated, f => Assert.True(File.Exists(Path.Combine(Library(), f)), $"{f} is listed but gone: take it off the list"));
    }

    /// <summary>Test folders that are no library folder: the commands, the promises across commands, the examples, data.</summary>
    private static readonly string[] TestOnlyFolders = ["Cli", "Interface", "Examples", "Fixtures"];

    [Fact]
    public void The_tests_mirror_the_library_folders_with_one_name_per_test_class()
    {
        string tests = Tests();
        var libraryFolders = Directory.GetDirectories(Library()).Select(Path.GetFileName).ToHashSet();
        var problems = new List<string>();
        foreach (var folder in Directory.GetDirectories(tests).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")))
            if (!libraryFolders.Contains(folder) && !TestOnlyFolders.Contains(folder)) problems.Add($"tests/{folder}/ mirrors no library folder");
        var testClass = new Regex(@"^(?:public |internal )?(?:sealed |static |abstract )*class (\w+Tests)\b", RegexOptions.Multiline);
        var seen = new Dictionary<string, string>();
        foreach (var file in Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(tests, file).Replace('\\', '/');
            if (relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal)) continue;
            string? folder = Path.GetDirectoryName(relative) is { Length: > 0 } d ? d.Replace('/', '.') : null;
            string expected = folder is null ? "BertSharp.Tests" : "BertSharp.Tests." + folder;
            string text = File.ReadAllText(file);
            if (!Regex.IsMatch(text, $@"^namespace {Regex.Escape(expected)};", RegexOptions.Multiline)) problems.Add($"{relative}: namespace is not {expected}");
            foreach (Match m in testClass.Matches(text))
                if (!seen.TryAdd(m.Groups[1].Value, relative)) problems.Add($"{m.Groups[1].Value} in {relative} and {seen[m.Groups[1].Value]}");
        }
        Assert.True(seen.Count > 50, $"{seen.Count} test classes found");
        Assert.Empty(problems);
    }

    [Fact]
    public void Model_layers_hold_device_tensors_not_arrays()
    {
        // The layers hand the device handles; host arrays in Model/ would be memory the device does not own.
        var violations = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Library(), "Model"), "*.cs"))
        {
            string name = Path.GetFileName(file);
            foreach (var (line, i) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
                if (Regex.IsMatch(line, @"\bnew (float|int)\[") || Regex.IsMatch(line, @"\b(Span|ReadOnlySpan)<(float|int)>"))
                    violations.Add($"{name}:{i}: {line.Trim()}");
        }
        // Allowed: host-side bookkeeping that is not a layer's activation (initialisation, the copy of a few read-back floats).
        violations.RemoveAll(v => v.StartsWith("BertParameters.cs:") || v.Contains("_hostStats") || v.StartsWith("BertParameterLayout.cs:")
                                  || v.StartsWith("DeviceBatch.cs:"));
        Assert.Empty(violations);
    }
}
