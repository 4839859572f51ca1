using BertSharp.Files;
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using BertSharp.Text;
using static BertSharp.Cli.Commands.TextCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp tokenizer train|encode</c>: train a vocabulary; show how text tokenizes.</summary>
public static class TokenizerCommand
{
    public static Command Create()
    {
        var tokenizer = new Command("tokenizer", "Train a WordPiece vocabulary, or show how text tokenizes.");
        tokenizer.Subcommands.Add(CreateTrain());
        tokenizer.Subcommands.Add(CreateEncode());
        return tokenizer;
    }

    private static Command CreateTrain()
    {
        var corpus = CorpusOption();
        var format = FormatOption();
        var cased = CasedOption();
        var threads = ThreadsOption();
        var outPath = new Option<string>("--out") { Description = "Where to write vocab.txt", Required = true };
        var vocabSize = new Option<int>("--vocab-size") { Description = "Tokens in the vocabulary, special tokens included", DefaultValueFactory = _ => 30522 };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Minimum count of a merged pair (word-level: of a word)", DefaultValueFactory = _ => 2 };
        var limitAlphabet = new Option<int>("--limit-alphabet") { Description = "Keep at most this many distinct characters (the most frequent)", DefaultValueFactory = _ => 1000 };
        var wordLevel = new Option<bool>("--word-level") { Description = "A word-level vocabulary: the most frequent whole words" };
        var json = new Option<bool>("--json") { Description = "Print what was written as one JSON object (snake_case keys)" };
        var force = CommandInputs.ForceOption();
        var command = new Command("train", "Train a BERT vocabulary (vocab.txt) on a corpus.")
        {
            corpus, outPath, vocabSize, minFrequency, limitAlphabet, wordLevel, cased, format, threads, force, json,
        };
        command.SetAction((ParseResult parse) =>
        {
            var options = new VocabularyTrainingOptions
            {
                VocabSize = parse.GetValue(vocabSize),
                MinFrequency = parse.GetValue(minFrequency),
                LimitAlphabet = parse.GetValue(limitAlphabet),
                LowerCase = !parse.GetValue(cased),
                WordLevel = parse.GetValue(wordLevel),
                Threads = parse.GetValue(threads),
            };
            // The library's rules, before any file is touched (the error names the property; FlagNames says its flag).
            options.Validate();
            string output = parse.GetValue(outPath)!;
            CommandInputs.CheckOut(output, folder: false, parse.GetValue(force), parse.GetValue(corpus));
            var reader = OpenCorpus(parse.GetValue(corpus)!, parse.GetValue(format)!);
            var clock = Stopwatch.StartNew();
            var counted = WithProgress("counting words", update =>
                VocabularyTraining.Count(reader, options, new InlineProgress<CountingProgress>(p => update($"{p.Documents:N0} documents, {p.Characters / 1e6:F0} M chars", null))));
            ReportReadStats(counted.Stats);
            var counts = counted.RequireText().Counts;
            CliConsole.Err.WriteLine($"counted {counts.TotalWords:N0} words ({counts.Words.Length:N0} distinct) in {counted.Stats.Documents:N0} documents, {clock.Elapsed.TotalSeconds:F1} s");
            var vocab = VocabularyTraining.Train(counted, options);
            vocab.Save(output);
            if (vocab.Count < options.VocabSize)
                CliConsole.Err.WriteLine($"warning: only {vocab.Count:N0} tokens (asked for {options.VocabSize:N0}): nothing more occurs at least {options.MinFrequency} times");
            if (parse.GetValue(json))
            {
                CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    output, tokens = vocab.Count, asked = options.VocabSize, word_level = options.WordLevel, lowercase = options.LowerCase,
                    words = counts.TotalWords, distinct_words = counts.Words.Length, documents = counted.Stats.Documents, seconds = clock.Elapsed.TotalSeconds,
                }, CliJson.Indented));
                return CliRunner.ExitOk;
            }
            CliConsole.Out.WriteLine($"wrote {output}: {vocab.Count:N0} tokens ({(options.WordLevel ? "word-level" : "WordPiece")}, {(options.LowerCase ? "uncased" : "cased")}), {clock.Elapsed.TotalSeconds:F1} s");
            return CliRunner.ExitOk;
        });
        return command;
    }

    private static Command CreateEncode()
    {
        var vocabPath = new Option<string>("--vocab") { Description = "vocab.txt", Required = true };
        var cased = CasedOption();
        var ids = new Option<bool>("--ids") { Description = "Print token ids instead of wordpieces" };
        var json = new Option<bool>("--json") { Description = "One JSON object per input line: {\"tokens\": [...], \"ids\": [...]}" };
        var input = new Argument<string>("file") { Description = "Text file to encode, or - for standard input", DefaultValueFactory = _ => "-" };
        var command = new Command("encode", "Print the wordpieces (or ids) of each input line, one output line per input line.")
        {
            vocabPath, cased, ids, input, json,
        };
        command.SetAction((ParseResult parse) =>
        {
            var vocab = Vocabulary.Load(parse.GetValue(vocabPath)!);
            var tokenizer = new BertTokenizer(vocab, lowerCase: !parse.GetValue(cased));
            string file = parse.GetValue(input)!;
            if (file != "-" && !File.Exists(file)) throw new BertSharpException($"{file}: no such file");
            using var reader = file == "-"
                ? new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false, false))
                : new StreamReader(file, new UTF8Encoding(false, false));
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
            bool printIds = parse.GetValue(ids), printJson = parse.GetValue(json);
            var idList = new List<int>();
            var line = new StringBuilder();
            for (string? text; (text = reader.ReadLine()) != null;)
            {
                idList.Clear();
                tokenizer.Encode(text, idList);
                line.Clear();
                if (printJson)
                {
                    stdout.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { tokens = idList.Select(id => vocab[id]), ids = idList }, CliJson.Line));
                    continue;
                }
                for (int i = 0; i < idList.Count; i++)
                {
                    if (i > 0) line.Append(' ');
                    if (printIds) line.Append(idList[i]);
                    else line.Append(vocab[idList[i]]);
                }
                stdout.WriteLine(line);
            }
            return CliRunner.ExitOk;
        });
        return command;
    }
}
