namespace BertSharp.Onnx;

/// <summary>Which outputs an ONNX export computes (the names follow HF Optimum's tasks).</summary>
public enum OnnxTask
{
    /// <summary>The model's own head: <see cref="TextClassification"/> when it has a classifier, else <see cref="PreTraining"/>.</summary>
    Auto,
    /// <summary>BertForPreTraining: <c>prediction_logits</c> [batch, sequence, vocab], <c>seq_relationship_logits</c>
    /// [batch, 2] and <c>last_hidden_state</c> [batch, sequence, hidden].</summary>
    PreTraining,
    /// <summary>BertForSequenceClassification: <c>logits</c> [batch, labels] (a model fine-tuned with a classifier).</summary>
    TextClassification,
    /// <summary>The encoder alone: <c>last_hidden_state</c> [batch, sequence, hidden].</summary>
    FeatureExtraction,
}
