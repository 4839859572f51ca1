using BertSharp.Files;
using System.CommandLine;
using System.Text;
using System.Text.RegularExpressions;

namespace BertSharp.Cli.Commands;

/// <summary>Where the commands that take texts read them: the arguments, else the lines of --file ("-" = stdin),
/// else stdin when it is redirected.</summary>
internal static class CommandInputs
{
    private static readonly Regex OptionLike = new(@"^--?[A-Za-z][A-Za-z0-9-]*(=.*)?$");

    /// <summary>A variadic text argument receives every token the parser cannot match, so a misspelt or unsupported
    /// option (say --threads) would silently become a text; anything shaped like an option is refused instead.</summary>
    public static void RejectOptionLike(IEnumerable<string> args, string command)
    {
        foreach (var a in args)
            if (OptionLike.IsMatch(a))
                throw new BertSharpException($"{a}: not an option of {command} (see bertsharp {command} --help); a text that starts with '-' can be given with --file", ErrorKind.Usage);
    }

    /// <summary>--force: replace the output when it exists (never an input, even with it).</summary>
    public static Option<bool> ForceOption() => new("--force") { Description = "Replace --out if it exists (never one of the inputs)" };

    /// <summary>The output-safety rule for a command's --out (<see cref="OutputPaths.Check"/>), before any work.</summary>
    public static void CheckOut(string? output, bool folder, bool force, params string?[] inputs)
    {
        if (output is null) return;
        OutputPaths.Check(output, "--out", folder, force, "--force", inputs);
    }

    /// <summary>The texts to process, each with where it came from (for messages).</summary>
    public static List<(string Where, string Text)> ReadTexts(string[] args, string? file, string command)
    {
        var result = new List<(string, string)>();
        RejectOptionLike(args, command);
        if (args.Length > 0 && file is not null) throw new BertSharpException("give texts as arguments or with --file, not both", ErrorKind.Usage);
        for (int i = 0; i < args.Length; i++) result.Add(($"argument {i + 1}", args[i]));
        if (args.Length > 0) return result;
        TextReader reader;
        string name;
        if (file is not null && file != "-")
        {
            if (!File.Exists(file)) throw new BertSharpException($"{file}: file not found");
            reader = new StreamReader(file, new UTF8Encoding(false, false));
            name = file;
        }
        else if (file == "-" || Console.IsInputRedirected || !CliConsole.IsTerminal)
        {
            reader = CliConsole.In;
            name = "stdin";
        }
        else throw new BertSharpException("no text: give it as an argument, with --file, or on stdin", ErrorKind.Usage);
        int n = 0;
        for (string? line; (line = reader.ReadLine()) != null;)
        {
            n++;
            if (line.Length > 4 << 20) throw new BertSharpException($"{name}:{n}: line longer than {4 << 20:N0} characters");
            result.Add(($"{name}:{n}", line));
        }
        if (name != "stdin") reader.Dispose();
        if (result.Count == 0) throw new BertSharpException($"no text: {name} is empty (give texts as arguments, with --file, or on stdin)");
        return result;
    }

    /// <summary>The texts of fill-mask and nsp: as <see cref="ReadTexts"/>, but blank lines of a file or stdin are skipped
    /// (they carry nothing to guess or score).</summary>
    public static List<string> ReadNonBlank(IReadOnlyList<string>? args, string? file, string command)
    {
        var texts = ReadTexts([.. args ?? []], file, command).Select(t => t.Text).ToList();
        if (args is { Count: > 0 }) return texts;
        var lines = texts.Where(t => t.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new BertSharpException($"no input text ({(file is null or "-" ? "standard input" : file)} is empty)");
        return lines;
    }

    /// <summary>The model of a command whose texts follow it: the first positional word (as in fill-mask and nsp), unless
    /// <c>--model</c> (the older spelling, still accepted) names it; then every word is a text.</summary>
    public static (string Model, string[] Texts) ModelAndTexts(string? option, string[] words, string command)
    {
        if (option is not null) return (option, words);
        if (words.Length == 0)
            throw new BertSharpException($"no model: give the model folder as the first argument (bertsharp {command} MODEL TEXT...)", ErrorKind.Usage);
        if (string.IsNullOrWhiteSpace(words[0])) throw new BertSharpException("<model>: the value is empty", ErrorKind.Usage);
        return (words[0], words[1..]);
    }

    /// <summary>The model of a command that reads one: the first argument, or the older option (<c>--checkpoint</c>,
    /// <c>--from</c>, <c>--model</c>) naming it; both only when they agree.</summary>
    public static string? Model(string? argument, string? option, string optionName, string command, bool required = true)
    {
        if (argument is not null && option is not null && argument != option)
            throw new BertSharpException($"the first argument {argument} and {optionName} {option}: give the model once", ErrorKind.Usage);
        if (argument is null && option is null && required)
            throw new BertSharpException($"no model: give the model folder as the first argument (bertsharp {command} MODEL ...)", ErrorKind.Usage);
        return argument ?? option;
    }

    /// <summary>A text cut to 60 characters, for messages.</summary>
    public static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";

    /// <summary>Prints what the loader had to do to read a published folder (nothing for our own checkpoints).</summary>
    public static void PrintNotes(IO.PretrainedModel model)
    {
        foreach (var note in model.Notes) CliConsole.Err.WriteLine($"note: {note}");
    }

    /// <summary>Tokens per input for classify and embed: the one rule of the library's fine-tuning
    /// (512 or the model's position table, whichever is smaller; a usage error outside [3, max_position_embeddings]).</summary>
    public static int MaxLength(int? requested, Model.BertConfig config) => Runs.FineTuningRun.MaxLengthFor(requested, config);
}
