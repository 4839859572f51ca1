using System.Text;
using System.Text.Json;

namespace BertSharp.Text;

/// <summary>
/// Labelled texts for classification: label names (index = label id) and the texts of a training split and,
/// when the source has one, a test split. Sources: the IMDB archive or folder (train/ and test/, labels neg and
/// pos; train/unsup is skipped), a folder with one subfolder of .txt files per label (optionally under train/ and
/// test/), or JSON Lines with a string "text" and a "label" (string or integer).
/// </summary>
public sealed class LabelledCorpus
{
    /// <summary>Label names; a label id indexes this list.</summary>
    public required IReadOnlyList<string> Labels { get; init; }
    /// <summary>Training texts with their label ids.</summary>
    public List<(string Text, int Label)> Train { get; } = new();
    /// <summary>Test texts with their label ids (empty when the source has no test split).</summary>
    public List<(string Text, int Label)> Test { get; } = new();

    /// <summary>IMDB's labels: 0 = neg, 1 = pos.</summary>
    public static readonly string[] ImdbLabels = ["neg", "pos"];

    /// <summary>Chooses the reader from the path: an IMDB archive/folder, a .jsonl file, or a folder of label subfolders.</summary>
    public static LabelledCorpus Open(string path, IReadOnlyList<string>? labels = null)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
                return ReadImdb(path);
            return ReadJsonLines(path, labels);
        }
        if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder", path);
        if (ImdbCorpusReader.FindImdbRoot(path) is not null) return ReadImdb(path);
        return ReadFolder(path, labels);
    }

    /// <summary>The labelled IMDB reviews (train and test; train/unsup skipped) from the archive or folder at <paramref
    /// name="path"/>.</summary>
    public static LabelledCorpus ReadImdb(string path)
    {
        var corpus = new LabelledCorpus { Labels = ImdbLabels };
        foreach (var doc in new ImdbCorpusReader(path).ReadDocuments())
        {
            if (doc.Info.Label < 0) continue; // train/unsup
            string split = ImdbCorpusReader.Splits[doc.Info.Split];
            (split.StartsWith("train/", StringComparison.Ordinal) ? corpus.Train : corpus.Test).Add((doc.CleanText(), doc.Info.Label));
        }
        if (corpus.Train.Count == 0) throw new InvalidDataException($"{path}: no labelled IMDB reviews found");
        return corpus;
    }

    /// <summary>One subfolder per label (names sorted ordinally unless <paramref name="labels"/> fixes them), each
    /// holding .txt files; with train/ and test/ subfolders, each is read that way as its split.</summary>
    public static LabelledCorpus ReadFolder(string path, IReadOnlyList<string>? labels = null)
    {
        string train = Path.Combine(path, "train"), test = Path.Combine(path, "test");
        bool split = Directory.Exists(train) && Directory.Exists(test);
        string trainRoot = split ? train : path;
        var found = Directory.GetDirectories(trainRoot).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToArray();
        labels ??= found;
        if (labels.Count < 2)
            throw new InvalidDataException($"{trainRoot}: needs one subfolder per label (at least 2), found {labels.Count}");
        var corpus = new LabelledCorpus { Labels = labels };
        ReadLabelFolders(trainRoot, corpus, corpus.Train);
        if (split) ReadLabelFolders(test, corpus, corpus.Test);
        if (corpus.Train.Count == 0) throw new InvalidDataException($"{trainRoot}: no .txt files in the label subfolders");
        return corpus;
    }

    private static void ReadLabelFolders(string root, LabelledCorpus corpus, List<(string Text, int Label)> into)
    {
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir)!;
            int label = IndexOf(corpus.Labels, name);
            if (label < 0) throw new InvalidDataException($"{dir}: label '{name}' is not one of {string.Join(", ", corpus.Labels)}");
            foreach (var f in Directory.EnumerateFiles(dir, "*.txt").Order(StringComparer.Ordinal))
            {
                string text = File.ReadAllText(f, Encoding.UTF8);
                if (!string.IsNullOrWhiteSpace(text)) into.Add((TextCleaner.Clean(text, TextKind.Paragraphs), label));
            }
        }
    }

    /// <summary>JSON Lines: {"text": "...", "label": "pos" | 1}. Without <paramref name="labels"/>, the label names are
    /// the distinct values sorted (numerically when all are integers).</summary>
    public static LabelledCorpus ReadJsonLines(string path, IReadOnlyList<string>? labels = null)
    {
        var rows = new List<(string Text, string Label)>();
        int number = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                if (o.ValueKind != JsonValueKind.Object || !o.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{number}: no string field \"text\"");
                if (!o.TryGetProperty("label", out var l))
                    throw new InvalidDataException($"{path}:{number}: no field \"label\"");
                string label = l.ValueKind switch
                {
                    JsonValueKind.String => l.GetString()!,
                    JsonValueKind.Number when l.TryGetInt64(out long n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => throw new InvalidDataException($"{path}:{number}: \"label\" must be a string or an integer"),
                };
                string text = t.GetString()!;
                if (!string.IsNullOrWhiteSpace(text)) rows.Add((TextCleaner.Clean(text, TextKind.Paragraphs), label));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{number}: not valid JSON ({e.Message.Split('.')[0]})");
            }
        }
        if (rows.Count == 0) throw new InvalidDataException($"{path}: no labelled texts");
        if (labels is null)
        {
            var distinct = rows.Select(r => r.Label).Distinct().ToList();
            labels = distinct.All(s => long.TryParse(s, out _))
                ? distinct.OrderBy(s => long.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
                : distinct.Order(StringComparer.Ordinal).ToArray();
            if (labels.Count < 2) throw new InvalidDataException($"{path}: needs at least 2 distinct labels, found {labels.Count}");
        }
        var corpus = new LabelledCorpus { Labels = labels };
        foreach (var (text, label) in rows)
        {
            int id = IndexOf(labels, label);
            if (id < 0) throw new InvalidDataException($"{path}: label '{label}' is not one of {string.Join(", ", labels)}");
            corpus.Train.Add((text, id));
        }
        return corpus;
    }

    private static int IndexOf(IReadOnlyList<string> labels, string name)
    {
        for (int i = 0; i < labels.Count; i++) if (labels[i] == name) return i;
        return -1;
    }

    /// <summary>A deterministic, label-balanced subset of at most <paramref name="max"/> items (all when max &lt;= 0).</summary>
    public static List<(string Text, int Label)> Subsample(List<(string Text, int Label)> items, int max, ulong seed)
    {
        var shuffled = Shuffle(items, seed);
        if (max <= 0 || max >= items.Count) return shuffled;
        // Round-robin over labels so a sorted source (all neg, then all pos) still gives a balanced subset.
        var byLabel = shuffled.GroupBy(x => x.Label).OrderBy(g => g.Key).Select(g => new Queue<(string Text, int Label)>(g)).ToList();
        var result = new List<(string Text, int Label)>(max);
        while (result.Count < max)
            foreach (var q in byLabel)
                if (result.Count < max && q.Count > 0) result.Add(q.Dequeue());
        return Shuffle(result, seed + 1);
    }

    /// <summary>Splits off a deterministic held-out share (for sources without a test split).</summary>
    public static (List<(string Text, int Label)> Train, List<(string Text, int Label)> Held) HoldOut(List<(string Text, int Label)> items, double fraction, ulong seed)
    {
        var s = Shuffle(items, seed);
        int held = (int)Math.Round(items.Count * fraction);
        return (s.Skip(held).ToList(), s.Take(held).ToList());
    }

    private static List<(string Text, int Label)> Shuffle(List<(string Text, int Label)> items, ulong seed)
    {
        var list = new List<(string Text, int Label)>(items);
        var rng = new Tensors.SplitMix64(seed);
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }
}
