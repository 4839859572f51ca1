namespace BertSharp.Pipelines;

/// <summary>Softmax and top-k over logits, shared by the pipelines.</summary>
internal static class Probabilities
{
    /// <summary>Softmax of one row of logits, in place (float, with a double sum).</summary>
    public static void Softmax(Span<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (float v in row) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < row.Length; i++) { row[i] = MathF.Exp(row[i] - max); sum += row[i]; }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < row.Length; i++) row[i] *= inv;
    }

    /// <summary>Softmax of <paramref name="logits"/> in double precision.</summary>
    public static double[] SoftmaxDouble(ReadOnlySpan<float> logits)
    {
        var p = new double[logits.Length];
        double max = double.NegativeInfinity, sum = 0;
        foreach (var x in logits) max = Math.Max(max, x);
        for (int i = 0; i < logits.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) p[i] /= sum;
        return p;
    }

    /// <summary>Indices of the k largest values, largest first (ties: lower index first).</summary>
    public static int[] TopK(ReadOnlySpan<float> values, int k)
    {
        var best = new List<int>(k + 1);
        for (int i = 0; i < values.Length; i++)
        {
            if (best.Count == k && values[i] <= values[best[^1]]) continue;
            int at = best.Count;
            while (at > 0 && values[best[at - 1]] < values[i]) at--;
            best.Insert(at, i);
            if (best.Count > k) best.RemoveAt(k);
        }
        return best.ToArray();
    }

    /// <summary>A text cut to 60 characters, for messages.</summary>
    public static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
