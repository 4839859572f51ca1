using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Pipelines;

/// <summary>
/// What the classification and embedding pipelines share: texts to <c>[CLS] head…tail [SEP]</c> examples (the
/// fine-tuning encoder, so inputs match training) and batched forward passes through the encoder and pooler.
/// </summary>
internal sealed class SequenceBatches
{
    private readonly ClassificationEncoder _encoder;
    private readonly ClassificationBatcher _batcher;
    private readonly int[] _index;

    public SequenceBatches(PretrainedModel model, int? maxLength, int? headTokens, int batchSize)
    {
        if (batchSize < 1) throw new BertSharpException($"batch size: must be at least 1, got {batchSize}", ErrorKind.Usage);
        var config = model.Config;
        int max = maxLength ?? Math.Min(512, config.MaxPositionEmbeddings);
        if (max < 3 || max > config.MaxPositionEmbeddings)
            throw new BertSharpException($"max length: must be in [3, {config.MaxPositionEmbeddings}] for this model (max_position_embeddings), got {max}", ErrorKind.Usage);
        try { _encoder = new ClassificationEncoder(model.Vocabulary, model.LowerCase, max, headTokens); }
        catch (ArgumentException e) { throw new BertSharpException(e.Message, ErrorKind.Usage, e); }
        BatchSize = batchSize;
        _batcher = new ClassificationBatcher(model.Vocabulary, batchSize, max);
        _index = new int[batchSize];
        Net = new BertForSequenceClassification(model.Parameters);
        Net.Reserve(batchSize, max);
    }

    public BertForSequenceClassification Net { get; }
    public int BatchSize { get; }
    public int MaxLength => _encoder.MaxLength;
    public int HeadTokens => _encoder.HeadTokens;

    public LabelledExample Encode(string text) => _encoder.Encode(text);

    /// <summary>Runs <paramref name="examples"/> (none empty) through the model in batches; <paramref name="onBatch"/>
    /// reads the model's outputs after each forward pass with (first example, count, sequence length).</summary>
    public void Run(IReadOnlyList<LabelledExample> examples, Action<int, int, int> onBatch, CancellationToken cancel)
    {
        for (int start = 0; start < examples.Count; start += BatchSize)
        {
            cancel.ThrowIfCancellationRequested();
            int b = Math.Min(BatchSize, examples.Count - start);
            for (int i = 0; i < b; i++) _index[i] = start + i;
            int seq = _batcher.Fill(examples, _index.AsSpan(0, b));
            Net.Forward(_batcher.Batch, DropoutContext.Off);
            onBatch(start, b, seq);
        }
    }

    /// <summary>Encodes every text; those without tokens are left out (their index maps to -1).</summary>
    public (List<LabelledExample> Kept, int[] KeptIndex, LabelledExample[] All) EncodeAll(IReadOnlyList<string> texts)
    {
        var all = new LabelledExample[texts.Count];
        var kept = new List<LabelledExample>(texts.Count);
        var keptIndex = new int[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            all[i] = _encoder.Encode(texts[i]);
            keptIndex[i] = all[i].Tokens.Length == 0 ? -1 : kept.Count;
            if (keptIndex[i] >= 0) kept.Add(all[i]);
        }
        return (kept, keptIndex, all);
    }
}
