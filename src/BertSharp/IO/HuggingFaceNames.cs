using System.Runtime.InteropServices;
using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// Maps the tensor names of published BERT checkpoints onto ours (HF's BertForPreTraining names):
/// <list type="bullet">
/// <item>bare BertModel names (<c>embeddings.</c>, <c>encoder.</c>, <c>pooler.</c>) get the <c>bert.</c> prefix;</item>
/// <item>TF-era LayerNorm names <c>LayerNorm.gamma</c>/<c>LayerNorm.beta</c> become <c>.weight</c>/<c>.bias</c>;</item>
/// <item><c>cls.predictions.decoder.weight</c> must equal the word embeddings and <c>cls.predictions.decoder.bias</c>
/// equal <c>cls.predictions.bias</c> (or stand in for it when that is absent); both are then dropped;</item>
/// <item><c>bert.embeddings.position_ids</c> (a buffer older HF versions saved) is ignored;</item>
/// <item>F16 and BF16 tensors are widened to F32 exactly.</item>
/// </list>
/// Every encoder tensor must be present with exactly the config's shape; a missing pooler or pretraining head is
/// initialised (and noted); any other tensor is refused, since it means a different model.
/// </summary>
public static class HuggingFaceNames
{
    private const string DecoderWeight = "cls.predictions.decoder.weight", DecoderBias = "cls.predictions.decoder.bias";

    /// <summary>Our (HF BertForPreTraining) name of a published tensor name: adds the <c>bert.</c> prefix to bare
    /// BertModel names and renames LayerNorm <c>gamma</c>/<c>beta</c> to <c>weight</c>/<c>bias</c>; other names are
    /// returned unchanged.</summary>
    public static string Normalize(string name)
    {
        string n = name;
        if (n.StartsWith("embeddings.", StringComparison.Ordinal) || n.StartsWith("encoder.", StringComparison.Ordinal)
            || n.StartsWith("pooler.", StringComparison.Ordinal))
            n = "bert." + n;
        if (n.Contains("LayerNorm.", StringComparison.Ordinal))
        {
            if (n.EndsWith(".gamma", StringComparison.Ordinal)) n = n[..^".gamma".Length] + ".weight";
            else if (n.EndsWith(".beta", StringComparison.Ordinal)) n = n[..^".beta".Length] + ".bias";
        }
        return n;
    }

    private const string ClassifierWeight = BertParameterLayout.ClassifierWeight, ClassifierBias = BertParameterLayout.ClassifierBias;

    /// <summary>The labels of the classifier head in <paramref name="path"/> (those of config.json, else LABEL_i), or
    /// null when the file has no <c>classifier.*</c> tensors; checks the head's shape.</summary>
    internal static string[]? ClassifierLabels(string path, int hiddenSize, string[]? labels)
    {
        using var r = new SafeTensorsReader(path);
        bool hasW = r.Contains(ClassifierWeight), hasB = r.Contains(ClassifierBias);
        if (hasW != hasB) throw new InvalidDataException($"{path}: has only one of classifier.weight and classifier.bias");
        if (!hasW) return null;
        var wInfo = r.Get(ClassifierWeight);
        if (wInfo.Shape.Length != 2 || wInfo.Shape[1] != hiddenSize || wInfo.Shape[0] < 2 || wInfo.Shape[0] > 1_000_000)
            throw new InvalidDataException($"{path}: tensor '{ClassifierWeight}' has shape [{string.Join(", ", wInfo.Shape)}], expected [labels, {hiddenSize}]");
        int numLabels = (int)wInfo.Shape[0];
        labels ??= Enumerable.Range(0, numLabels).Select(i => $"LABEL_{i}").ToArray();
        if (labels.Length != numLabels)
            throw new InvalidDataException($"{path}: the classifier has {numLabels} outputs but config.json names {labels.Length} labels");
        return labels;
    }

    /// <summary>Reads <paramref name="path"/> into <paramref name="parameters"/> (already initialised, so tensors the
    /// file may lack keep their initial values; a classifier head is read when the layout has one).</summary>
    internal static void ReadWeights(string path, BertParameters parameters, List<string> notes)
    {
        using var r = new SafeTensorsReader(path);
        var layout = parameters.Layout;
        var byName = new Dictionary<string, string>(StringComparer.Ordinal); // normalised → name in the file
        int renamed = 0;
        foreach (var fileName in r.Tensors.Keys)
        {
            string n = Normalize(fileName);
            if (n == "bert.embeddings.position_ids") { notes.Add($"ignored the buffer '{fileName}'"); continue; }
            if (n != fileName) renamed++;
            if (!byName.TryAdd(n, fileName))
                throw new InvalidDataException($"{path}: tensors '{byName[n]}' and '{fileName}' are the same parameter ({n})");
            if (!layout.TryGet(n, out _) && n is not (DecoderWeight or DecoderBias))
                throw new InvalidDataException($"{path}: unexpected tensor '{fileName}' (not part of a BERT for pretraining or sequence classification)");
        }
        if (renamed > 0) notes.Add($"renamed {renamed} tensor(s) to HF BertForPreTraining names (bert. prefix, LayerNorm gamma/beta)");

        // Read on the host into a copy of the (initialised) values, then one copy to the device.
        var values = parameters.ToArray();
        var initialised = new List<string>();
        foreach (var e in layout.Entries)
        {
            if (byName.TryGetValue(e.Name, out var fileName))
            {
                ReadInto(r, path, fileName, e.Shape, values.AsSpan(e.Offset, e.Length), notes);
                continue;
            }
            if (e.Name == "cls.predictions.bias" && byName.TryGetValue(DecoderBias, out var db))
            {
                ReadInto(r, path, db, e.Shape, values.AsSpan(e.Offset, e.Length), notes);
                byName.Remove(DecoderBias);
                continue;
            }
            if (e.Name.StartsWith("cls.", StringComparison.Ordinal) || e.Name.StartsWith("bert.pooler.", StringComparison.Ordinal))
            {
                initialised.Add(e.Name);
                continue;
            }
            throw new InvalidDataException($"{path}: missing tensor '{e.Name}'");
        }
        if (initialised.Count > 0)
            notes.Add($"initialised {initialised.Count} tensor(s) the file lacks: {string.Join(", ", initialised)}");

        // The tied decoder: accepted only as an exact copy of what it is tied to.
        if (byName.TryGetValue(DecoderWeight, out var dw))
        {
            var word = layout["bert.embeddings.word_embeddings.weight"];
            RequireEqual(r, path, dw, word.Shape, values.AsSpan(word.Offset, word.Length), "bert.embeddings.word_embeddings.weight", notes);
        }
        if (byName.TryGetValue(DecoderBias, out var dbias))
        {
            var bias = layout["cls.predictions.bias"];
            RequireEqual(r, path, dbias, bias.Shape, values.AsSpan(bias.Offset, bias.Length), "cls.predictions.bias", notes);
        }
        Checkpoint.RequireFinite(path, layout, values);
        parameters.CopyFrom(values);

    }

    private static void ReadInto(SafeTensorsReader r, string path, string name, int[] shape, Span<float> dst, List<string> notes)
    {
        var t = r.Get(name);
        bool same = t.Shape.Length == shape.Length;
        for (int i = 0; same && i < shape.Length; i++) same = t.Shape[i] == shape[i];
        if (!same)
            throw new InvalidDataException($"{path}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], the config needs [{string.Join(", ", shape)}]");
        switch (t.Dtype)
        {
            case "F32":
                r.ReadBytes(name, MemoryMarshal.AsBytes(dst));
                break;
            case "F16" or "BF16":
            {
                var raw = new ushort[dst.Length];
                r.ReadBytes(name, MemoryMarshal.AsBytes(raw.AsSpan()));
                if (t.Dtype == "F16") for (int i = 0; i < raw.Length; i++) dst[i] = (float)BitConverter.UInt16BitsToHalf(raw[i]);
                else Tensors.BFloat16.ToSingle(raw, dst);
                if (!notes.Contains("widened F16/BF16 tensors to F32")) notes.Add("widened F16/BF16 tensors to F32");
                break;
            }
            default:
                throw new InvalidDataException($"{path}: tensor '{name}' is {t.Dtype}; parameters must be F32, F16 or BF16");
        }
    }

    private static void RequireEqual(SafeTensorsReader r, string path, string name, int[] shape, ReadOnlySpan<float> tiedTo, string tiedName, List<string> notes)
    {
        var copy = new float[tiedTo.Length];
        ReadInto(r, path, name, shape, copy, notes);
        for (int i = 0; i < copy.Length; i++)
            if (BitConverter.SingleToInt32Bits(copy[i]) != BitConverter.SingleToInt32Bits(tiedTo[i]))
                throw new InvalidDataException($"{path}: '{name}' differs from '{tiedName}' at element {i}; only a decoder tied to it is supported");
        notes.Add($"dropped '{name}' (an exact copy of the tied '{tiedName}')");
    }
}
