using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Pipelines;

/// <summary>
/// Turns text into pretraining-model inputs exactly as pretraining saw them: the model's tokenizer,
/// <c>[CLS] A [SEP]</c> or <c>[CLS] A [SEP] B [SEP]</c>, segment ids 0 then 1, truncated longest-first like Google's
/// <c>truncate_seq_pair</c> to the model's <see cref="PretrainedModel.MaxSeqLength"/>. One batch row, no padding.
/// </summary>
internal sealed class PairInputs(PretrainedModel model)
{
    private readonly BertTokenizer _tokenizer = model.CreateTokenizer();
    private readonly SpecialTokenIds _sp = model.Vocabulary.SpecialIds;
    public int[] Ids = [], Types = [], Mask = [], Positions = [], Labels = [], Nsp = [0];
    public float[] Weights = [];
    public int Length { get; private set; }
    public bool Truncated { get; private set; }
    /// <summary>The [MASK] positions found (0 when the text has none).</summary>
    public int MaskCount { get; private set; }

    /// <summary>Encodes one text (<paramref name="b"/> null) or a pair.</summary>
    public void Encode(string a, string? b)
    {
        var ia = _tokenizer.Encode(a);
        var ib = b is null ? null : _tokenizer.Encode(b);
        int max = model.MaxSeqLength - (ib is null ? 2 : 3);
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
        MaskCount = masks.Count;
        // At least one prediction slot (a padding entry) so the MLM head always has a shape.
        Positions = masks.Count > 0 ? masks.ToArray() : [0];
        Labels = Enumerable.Repeat(masks.Count > 0 ? _sp.Mask : 0, Positions.Length).ToArray();
        Weights = Enumerable.Repeat(masks.Count > 0 ? 1f : 0f, Positions.Length).ToArray();
    }

    /// <summary>The encoded text as a one-row batch.</summary>
    public BertBatch Batch() => BertBatch.Create(1, Length, Positions.Length, Ids, Types, Mask, Positions, Labels, Weights, Nsp);
}
