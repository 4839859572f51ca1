using BertSharp.Files;
using System.CommandLine;
using BertSharp.Text;
using static BertSharp.Cli.Commands.TextCommandSupport;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp data imdb</c>: gets the IMDB reviews onto disk (a local archive or folder, else a download).</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var data = new Command("data", "Get datasets onto disk.");
        data.Subcommands.Add(CreateImdb());
        return data;
    }

    private static Command CreateImdb()
    {
        var archive = new Option<string?>("--archive")
        {
            Description = "Use this local aclImdb_v1.tar.gz (or an extracted aclImdb folder) instead of downloading",
        };
        var outDir = new Option<string>("--out")
        {
            Description = "Folder that receives aclImdb/ (and the downloaded archive)",
            DefaultValueFactory = _ => "data",
        };
        var url = new Option<string>("--url")
        {
            Description = "Where to download from",
            DefaultValueFactory = _ => ImdbDataset.Url,
        };
        var sha = new Option<string>("--sha256")
        {
            Description = "Expected SHA-256 of the archive ('none' skips the check)",
            DefaultValueFactory = _ => ImdbDataset.Sha256,
        };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object: root and reviews per split" };
        var command = new Command("imdb", "Download (or take a local copy of), verify and extract the IMDB reviews (aclImdb_v1.tar.gz).")
        {
            archive, outDir, url, sha, json,
        };
        command.SetAction((ParseResult parse, CancellationToken cancel) =>
        {
            string? archivePath = parse.GetValue(archive);
            string shaValue = parse.GetValue(sha)!;
            if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var uri) || (uri.Scheme != "https" && uri.Scheme != "http"))
                throw new BertSharpException($"--url: not an http(s) address: {parse.GetValue(url)}", ErrorKind.Usage);
            string? expected = shaValue == "none" ? null : shaValue;
            if (expected != null && (expected.Length != 64 || !expected.All(Uri.IsHexDigit)))
                throw new BertSharpException($"--sha256: expected 64 hex digits or 'none', got '{shaValue}'", ErrorKind.Usage);
            // The output folder holds the download and aclImdb/: never the archive itself, nor inside an extracted
            // copy given as --archive, nor a device or link (it may exist: the download resumes there).
            string output = parse.GetValue(outDir)!;
            CommandInputs.CheckOut(output, folder: true, force: true);
            if (archivePath is not null) OutputPaths.RequireApartFromManaged(output, "--out", [".aclImdb-archive"], archivePath);
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
            string root = WithProgress("imdb", update =>
                ImdbDataset.AcquireAsync(parse.GetValue(outDir)!, archivePath, uri, expected, http,
                    new Progress<DownloadProgress>(p => update($"{Mb(p.Received)}{(p.Total is long t ? $" of {Mb(t)}" : "")}",
                        p.Total is long total && total > 0 ? (double)p.Received / total : null)),
                    message => CliConsole.Err.WriteLine(message), cancel).GetAwaiter().GetResult());
            var perSplit = ImdbDataset.CountReviews(root);
            int reviews = perSplit.Values.Sum();
            if (parse.GetValue(json))
            {
                CliConsole.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { root, reviews, splits = perSplit }, CliJson.Indented));
                return Task.FromResult(CliRunner.ExitOk);
            }
            foreach (var (split, n) in perSplit) CliConsole.Out.WriteLine($"{split,-12} {n,7:N0} reviews");
            CliConsole.Out.WriteLine($"IMDB ready: {root} ({reviews:N0} reviews)");
            return Task.FromResult(CliRunner.ExitOk);
        });
        return command;
    }
}
