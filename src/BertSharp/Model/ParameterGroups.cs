namespace BertSharp.Model;

/// <summary>Which part of the model a parameter belongs to. A task trains the groups it uses; the others are
/// neither updated nor decayed (a fine-tuned classifier carries the pretraining heads along untouched).</summary>
[Flags]
public enum ParameterGroups
{
    /// <summary>No group.</summary>
    None = 0,
    /// <summary>The trunk, HF's BertModel: <c>bert.embeddings.*</c>, <c>bert.encoder.*</c>, <c>bert.pooler.*</c>.</summary>
    Encoder = 1,
    /// <summary>The MLM and NSP heads, <c>cls.*</c> (the MLM decoder is tied to the word embeddings).</summary>
    PreTrainingHeads = 2,
    /// <summary>The sequence-classification head, <c>classifier.*</c>.</summary>
    Classifier = 4,
    /// <summary>Every group.</summary>
    All = Encoder | PreTrainingHeads | Classifier,
}
