using System.Security.Cryptography;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;

namespace BertSharp.Runs;

/// <summary>
/// A teacher's logits for every training example, computed once (eval mode, dropout off) and cached in a run's output
/// folder as <see cref="FileName"/> (tensor <c>logits</c> [examples, labels]). The teacher never changes during a
/// distillation, so a resumed or repeated run reads them back instead of paying for the teacher again. The cache is
/// keyed by a SHA-256 of what decides them: the teacher's weights, config and labels, the examples' token ids and labels
/// (the data and its tokenization: vocabulary, length, truncation) and the precision the teacher ran in; any change
/// rebuilds it. Key and file take the examples in a canonical order (<see cref="CanonicalOrder"/>), not the run's: the
/// same texts shuffled by another seed find the cache too.
/// </summary>
public static class TeacherLogits
{
    /// <summary>The cache file in the output folder.</summary>
    public const string FileName = "teacher_logits.safetensors";
    private const string TensorName = "logits", KeyName = "key";

    /// <summary>The cache key of <paramref name="teacher"/>'s logits over <paramref name="examples"/> (hex SHA-256).</summary>
    public static string Key(BertParameters teacher, IReadOnlyList<LabelledExample> examples)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(teacher.Config.ToJson()));
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", teacher.Labels ?? [])));
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{teacher.Device.Name} {teacher.Device.Precision.Name()}"));
        sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(teacher.ToArray().AsSpan()));
        Span<int> head = stackalloc int[2];
        foreach (int i in CanonicalOrder(examples))
        {
            var e = examples[i];
            (head[0], head[1]) = (e.Tokens.Length, e.Label);
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(head));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.Tokens.AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The examples' indices sorted by label, then token ids (lexicographic): the same texts in any order give the
    /// same sequence of texts. Equal texts may come in either order; their logits are equal too.</summary>
    public static int[] CanonicalOrder(IReadOnlyList<LabelledExample> examples)
    {
        var order = Enumerable.Range(0, examples.Count).ToArray();
        Array.Sort(order, (a, b) => examples[a].Label != examples[b].Label ? examples[a].Label.CompareTo(examples[b].Label)
            : examples[a].Tokens.AsSpan().SequenceCompareTo(examples[b].Tokens));
        return order;
    }

    /// <summary>The cached logits in <paramref name="folder"/>, in the order of <paramref name="examples"/>, when their key
    /// is <paramref name="key"/> and they hold examples × <paramref name="labels"/> values; null otherwise (none, another
    /// key, unreadable).</summary>
    public static float[]? TryLoad(string folder, string key, IReadOnlyList<LabelledExample> examples, int labels)
    {
        string path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            using var r = new SafeTensorsReader(path);
            if (!r.Metadata.TryGetValue(KeyName, out var stored) || stored != key || !r.Contains(TensorName)) return null;
            var info = r.Get(TensorName);
            if (info.Shape.Length != 2 || info.Shape[0] != examples.Count || info.Shape[1] != labels) return null;
            return Reorder(r.ReadF32(TensorName), CanonicalOrder(examples), labels, toCanonical: false);
        }
        catch (InvalidDataException) { return null; } // a damaged cache is rebuilt, not an error
    }

    /// <summary>Writes the cache of <paramref name="logits"/> (in the order of <paramref name="examples"/>) through a
    /// temporary file and a rename.</summary>
    public static void Save(string folder, string key, float[] logits, IReadOnlyList<LabelledExample> examples, int labels)
    {
        var w = new SafeTensorsWriter();
        w.AddMetadata(KeyName, key);
        w.AddF32(TensorName, Reorder(logits, CanonicalOrder(examples), labels, toCanonical: true), examples.Count, labels);
        w.Save(Path.Combine(folder, FileName));
    }

    // Rows from the examples' order to the canonical one (row j = row order[j]), or back.
    private static float[] Reorder(float[] logits, int[] order, int labels, bool toCanonical)
    {
        var result = new float[logits.Length];
        for (int j = 0; j < order.Length; j++)
        {
            var (from, to) = toCanonical ? (order[j], j) : (j, order[j]);
            logits.AsSpan(from * labels, labels).CopyTo(result.AsSpan(to * labels, labels));
        }
        return result;
    }

    /// <summary>The teacher's logits for every example, [examples, labels] row-major: the classifier run in eval mode in
    /// batches of up to <paramref name="batchSize"/> texts of similar length (a text's logits do not depend on its batch).</summary>
    public static float[] Compute(BertForSequenceClassification teacher, Vocabulary vocab, IReadOnlyList<LabelledExample> examples,
        int maxLength, int batchSize, IProgress<string>? progress = null)
    {
        int labels = teacher.NumLabels;
        if (labels == 0) throw new ArgumentException("the teacher has no classifier head", nameof(teacher));
        var result = new float[examples.Count * labels];
        if (examples.Count == 0) return result;
        var data = new ClassificationTrainingData(vocab, examples, examples, 1, batchSize, maxLength, seed: 0);
        teacher.Reserve(batchSize, maxLength);
        var order = data.ValidationOrder;
        var host = new float[batchSize * labels];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int v = 0, start = 0; v < data.ValidationBatchCount; v++, start += batchSize)
        {
            var batch = data.ValidationBatch(v);
            teacher.Forward(batch, DropoutContext.Off);
            teacher.Device.CopyToHost<float>(teacher.Logits, host.AsSpan(0, batch.BatchSize * labels));
            for (int i = 0; i < batch.BatchSize; i++)
                host.AsSpan(i * labels, labels).CopyTo(result.AsSpan(order[start + i] * labels, labels));
            if (progress is not null && (v + 1) % 50 == 0)
                progress.Report($"teacher: {Math.Min(start + batchSize, examples.Count):N0} of {examples.Count:N0} texts ({clock.Elapsed.TotalSeconds:F0} s)");
        }
        return result;
    }

    /// <summary>The examples with their teacher logits attached (<see cref="LabelledExample.TeacherLogits"/>).</summary>
    public static LabelledExample[] Attach(IReadOnlyList<LabelledExample> examples, float[] logits, int labels)
    {
        var result = new LabelledExample[examples.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = examples[i] with { TeacherLogits = logits.AsSpan(i * labels, labels).ToArray() };
        return result;
    }
}
