using BertSharp.Files;
using System.CommandLine;
using System.Diagnostics;
using BertSharp.Text;
using static BertSharp.Cli.Commands.TextCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp tokenize</c>: the whole corpus tokenized once into a memory-mappable store.</summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var corpus = CorpusOption();
        var format = FormatOption();
        var cased = CasedOption();
        var threads = ThreadsOption();
        var vocabPath = new Option<string>("--vocab") { Description = "vocab.txt", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the store's figures as one JSON object (snake_case keys)" };
        var outDir = new Option<string>("--out") { Description = "Folder for the tokenized corpus (tokens.bin, sentences.bin, documents.bin, manifest.json)", Required = true };
        var force = CommandInputs.ForceOption();
        var command = new Command("tokenize", "Split a corpus into sentences and tokenize it once into a binary store the trainer streams.")
        {
            corpus, vocabPath, outDir, cased, format, threads, force, json,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            string output = parse.GetValue(outDir)!;
            // Never the corpus, the vocabulary or a folder around them, nor a device or link: checked before anything is read.
            CommandInputs.CheckOut(output, folder: true, force: true, parse.GetValue(corpus), parse.GetValue(vocabPath));
            var vocab = Vocabulary.Load(parse.GetValue(vocabPath)!);
            var reader = OpenCorpus(parse.GetValue(corpus)!, parse.GetValue(format)!);
            var options = new TokenizeOptions { LowerCase = !parse.GetValue(cased), Threads = parse.GetValue(threads), Replace = parse.GetValue(force) };
            // A store built from the same inputs is kept; anything else there is replaced only with --force.
            if (!(TokenizedCorpusStore.IsComplete(output, out var there) && there!.BuildKey == CorpusTokenizer.BuildKey(reader, vocab, options)))
                CommandInputs.CheckOut(output, folder: true, options.Replace, parse.GetValue(corpus), parse.GetValue(vocabPath));
            var clock = Stopwatch.StartNew();
            var result = WithProgress("tokenizing", update =>
                CorpusTokenizer.Build(reader, vocab, parse.GetValue(vocabPath)!, parse.GetValue(outDir)!, options,
                    new InlineProgress<TokenizeProgress>(p => update($"{p.Documents:N0} documents, {p.Tokens:N0} tokens", null)), cancel));
            var m = result.Manifest;
            if (result.Reused)
                CliConsole.Err.WriteLine($"{parse.GetValue(outDir)}: already built from the same corpus, vocabulary and settings; kept");
            else ReportReadStats(result.ReadStats!);
            if (parse.GetValue(json))
            {
                CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    store = parse.GetValue(outDir), reused = result.Reused, documents = m.Documents, sentences = m.Sentences, tokens = m.Tokens,
                    words = m.Words, unk_tokens = m.UnkTokens, id_bits = m.IdBytes * 8, empty_documents_dropped = m.EmptyDocumentsDropped,
                    seconds = clock.Elapsed.TotalSeconds,
                }, CliJson.Indented));
                return Task.FromResult(CliRunner.ExitOk);
            }
            CliConsole.Out.WriteLine($"{m.Documents:N0} documents, {m.Sentences:N0} sentences, {m.Tokens:N0} tokens ({m.IdBytes * 8}-bit ids)"
                + $", {(m.Words > 0 ? (double)m.Tokens / m.Words : 0):F3} tokens/word, [UNK] {(m.Tokens > 0 ? 100.0 * m.UnkTokens / m.Tokens : 0):F3}%"
                + (result.Reused ? "" : $", {clock.Elapsed.TotalSeconds:F1} s"));
            if (m.EmptyDocumentsDropped > 0) CliConsole.Err.WriteLine($"note: {m.EmptyDocumentsDropped:N0} document(s) without text dropped");
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
