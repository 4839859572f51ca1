using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Tests.Onnx;

/// <summary>BertSharp's own outputs for a batch, named as the ONNX export names them (evaluation mode, no dropout).</summary>
internal static class BertSharpReference
{
    public static Dictionary<string, float[]> Outputs(BertParameters p, int batch, int seq, int[] ids, int[] types, int[] mask)
    {
        var result = new Dictionary<string, float[]>();
        // Pretraining heads: every position a weight-0 prediction slot, so the MLM head scores all of them (as PreTrainingLogits does).
        var b = new BertBatch(batch, seq, seq);
        b.SetShape(batch, seq);
        ids.CopyTo(b.InputIds, 0); types.CopyTo(b.TokenTypeIds, 0); mask.CopyTo(b.AttentionMask, 0);
        for (int i = 0; i < batch * seq; i++) b.MaskedLmPositions[i] = i % seq;
        var pre = new BertForPreTraining(p);
        pre.Forward(b, DropoutContext.Off);
        result["prediction_logits"] = pre.Device.ToArray(pre.Heads.MlmLogits);
        result["seq_relationship_logits"] = pre.Device.ToArray(pre.Heads.NspLogits);
        result["last_hidden_state"] = pre.Device.ToArray(pre.SequenceOutput);
        if (p.Layout.NumLabels > 0)
        {
            var cls = new BertForSequenceClassification(p);
            cls.Reserve(batch, seq);
            cls.Forward(BertBatch.CreateForClassification(batch, seq, ids, types, mask, []), DropoutContext.Off);
            result["logits"] = cls.Device.ToArray(cls.Logits);
        }
        return result;
    }

    /// <summary>‖a − b‖₂ / ‖b‖₂ in float64.</summary>
    public static double RelativeL2(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ: {a.Length} vs {b.Length}");
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++) { double d = (double)a[i] - b[i]; diff += d * d; norm += (double)b[i] * b[i]; }
        return Math.Sqrt(diff / norm);
    }
}
