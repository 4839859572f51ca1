using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Cli.Commands;

/// <summary>
/// Turns text into model inputs exactly as pretraining saw them: the checkpoint's tokenizer (same vocabulary and
/// casing), <c>[CLS] A [SEP]</c> or <c>[CLS] A [SEP] B [SEP]</c>, segment ids 0 then 1, truncated longest-first
/// like Google's <c>truncate_seq_pair</c>. Also reads the texts commands take (arguments, a file, or stdin).
/// </summary>
public sealed class ModelInputs(LoadedCheckpoint checkpoint)
{
    private readonly BertTokenizer _tokenizer = checkpoint.CreateTokenizer();
    private readonly SpecialTokenIds _sp = checkpoint.Vocabulary.SpecialIds;
    public int[] Ids = [], Types = [], Mask = [], Positions = [], Labels = [], Nsp = [0];
    public float[] Weights = [];
    public int Length { get; private set; }
    public bool Truncated { get; private set; }

    /// <summary>Encodes one text (<paramref name="b"/> null) or a pair, padded to its own length.</summary>
    public void Encode(string a, string? b)
    {
        var ia = _tokenizer.Encode(a);
        var ib = b is null ? null : _tokenizer.Encode(b);
        int max = checkpoint.MaxSeqLength - (ib is null ? 2 : 3);
        Truncated = false;
        while (ia.Count + (ib?.Count ?? 0) > max)
        {
            Truncated = true;
            var longer = ib is not null && ib.Count > ia.Count ? ib : ia;
            longer.RemoveAt(longer.Count - 1);
        }
        var ids = new List<int>(ia.Count + (ib?.Count ?? 0) + 3) { _sp.Cls };
        ids.AddRange(ia);
        ids.Add(_sp.Sep);
        int firstB = ids.Count;
        if (ib is not null) { ids.AddRange(ib); ids.Add(_sp.Sep); }
        Length = ids.Count;
        Ids = ids.ToArray();
        Types = new int[Length];
        if (ib is not null) for (int i = firstB; i < Length; i++) Types[i] = 1;
        Mask = Enumerable.Repeat(1, Length).ToArray();
        var masks = new List<int>();
        for (int i = 0; i < Length; i++) if (Ids[i] == _sp.Mask) masks.Add(i);
        // At least one prediction slot (a padding entry) so the MLM head always has a shape.
        Positions = masks.Count > 0 ? masks.ToArray() : [0];
        Labels = Enumerable.Repeat(masks.Count > 0 ? _sp.Mask : 0, Positions.Length).ToArray();
        Weights = Enumerable.Repeat(masks.Count > 0 ? 1f : 0f, Positions.Length).ToArray();
    }

    public int MaskCount => Weights.Length > 0 && Weights[0] > 0 ? Positions.Length : 0;

    /// <summary>The encoded text as a one-row batch.</summary>
    public BertBatch Batch()
    {
        var b = new BertBatch(1, Length, Positions.Length);
        Ids.CopyTo(b.InputIds, 0);
        Types.CopyTo(b.TokenTypeIds, 0);
        Mask.CopyTo(b.AttentionMask, 0);
        Positions.CopyTo(b.MaskedLmPositions, 0);
        Labels.CopyTo(b.MaskedLmIds, 0);
        Weights.CopyTo(b.MaskedLmWeights, 0);
        return b;
    }

    /// <summary>The texts a command was given: its arguments, else the lines of --file (- for stdin), else stdin's lines.</summary>
    public static List<string> ReadTexts(IReadOnlyList<string>? args, string? file, string command)
    {
        var texts = UseCommandSupport.ReadTexts([.. args ?? []], file, command).Select(t => t.Text).ToList();
        if (args is { Count: > 0 }) return texts;
        // Blank lines carry nothing to guess or score here (fill-mask, nsp), so they are skipped.
        var lines = texts.Where(t => t.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new UserException($"no input text ({(file is null or "-" ? "standard input" : file)} is empty)");
        return lines;
    }

    /// <summary>Softmax of one row of logits, in place.</summary>
    public static void Softmax(Span<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (float v in row) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < row.Length; i++) { row[i] = MathF.Exp(row[i] - max); sum += row[i]; }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < row.Length; i++) row[i] *= inv;
    }
}
