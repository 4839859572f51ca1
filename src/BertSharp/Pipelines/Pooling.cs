namespace BertSharp.Pipelines;

/// <summary>How <see cref="EmbeddingPipeline"/> turns a text's hidden states into one vector.</summary>
public enum Pooling
{
    /// <summary>The last layer's [CLS] vector.</summary>
    Cls,
    /// <summary>The mean of the last layer over the real tokens ([CLS] and [SEP] included, padding not), as HF's mean pooling over attention_mask.</summary>
    Mean,
    /// <summary>The pooler's output (tanh of a dense layer over [CLS], what the NSP head and classifier read).</summary>
    Pooler,
}
