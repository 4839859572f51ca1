using System.CommandLine;
using BertSharp.Cli;

// Entry point: each command lives in its own file under Commands/ and is registered here.
var root = new RootCommand("BertSharp: pretrain BERT language models from scratch in .NET.");
foreach (var command in CommandRegistry.All())
    root.Subcommands.Add(command);
return await CliRunner.RunAsync(root, args);
