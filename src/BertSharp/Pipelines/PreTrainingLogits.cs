using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Pipelines;

/// <summary>
/// The raw outputs of the pretraining heads — what HF's <c>BertForPreTraining(input_ids, token_type_ids,
/// attention_mask)</c> returns as <c>prediction_logits</c> and <c>seq_relationship_logits</c> — in evaluation mode
/// (no dropout), MLM logits at every position, padded ones included. Meant for comparing this implementation with
/// any other number for number. Not thread-safe: one instance computes one batch at a time (it keeps the model's
/// buffers between calls).
/// </summary>
public sealed class PreTrainingLogits
{
    // Compute is this file's one contact with the model: the heads' logits buffers, copied to the host.
    private readonly BertForPreTraining _model;

    /// <summary>A calculator over <paramref name="parameters"/> (read, never changed; the config is theirs).</summary>
    public PreTrainingLogits(BertParameters parameters) => _model = new BertForPreTraining(parameters);

    /// <summary>The model's configuration.</summary>
    public BertConfig Config => _model.Config;

    /// <summary>Runs the model on <paramref name="inputs"/>. Rows of different lengths, three arrays of different
    /// shapes, an empty batch, more positions than <c>max_position_embeddings</c>, an id outside the vocabulary, a
    /// token type outside <c>type_vocab_size</c> or a mask value other than 0/1 is a <see cref="BertSharpException"/>
    /// (<see cref="ErrorKind.BadInput"/>) naming <see cref="PreTrainingInputs.Source"/> and the entry.</summary>
    public PreTrainingLogitsResult Compute(PreTrainingInputs inputs)
    {
        var c = Config;
        var batch = ToBatch(inputs, c);
        int n = batch.BatchSize * batch.SeqLength;
        // Every position of every row is a "masked" position of weight 0 (id 0): the MLM head scores all of them
        // and no loss is counted. Its logits buffer then holds transformed · Eᵀ + cls.predictions.bias, the bias
        // added once, by the fused bias + cross-entropy kernel, which adds it to every row, weight-0 rows included.
        for (int i = 0; i < n; i++) batch.MaskedLmPositions[i] = i % batch.SeqLength;
        _model.Forward(batch, DropoutContext.Off);
        return new PreTrainingLogitsResult(batch.BatchSize, batch.SeqLength, c.VocabSize, 
            _model.Device.ToArray(_model.Heads.MlmLogits), _model.Device.ToArray(_model.Heads.NspLogits));
    }

    /// <summary>The checked ids in a batch with one prediction slot per position (NSP labels 0: unused).</summary>
    private static BertBatch ToBatch(PreTrainingInputs inputs, BertConfig c)
    {
        string src = inputs.Source;
        int batch = inputs.InputIds.Length;
        if (batch == 0) throw PreTrainingInputs.Bad(src, "input_ids has no rows");
        int seq = inputs.InputIds[0].Length;
        if (seq == 0) throw PreTrainingInputs.Bad(src, "input_ids[0] is empty");
        if (seq > c.MaxPositionEmbeddings)
            throw PreTrainingInputs.Bad(src, $"rows of {seq} tokens, but the model has max_position_embeddings {c.MaxPositionEmbeddings}");
        if ((long)batch * seq * c.VocabSize > Array.MaxLength)
            throw PreTrainingInputs.Bad(src, $"{batch} x {seq} positions x {c.VocabSize} logits are too many for one batch (split it)");
        var b = new BertBatch(batch, seq, seq);
        Flat(inputs.InputIds, "input_ids", b.InputIds, batch, seq, src, c.VocabSize, $"outside the vocabulary (vocab_size {c.VocabSize})");
        Flat(inputs.TokenTypeIds, "token_type_ids", b.TokenTypeIds, batch, seq, src, c.TypeVocabSize, $"outside [0, {c.TypeVocabSize}) (type_vocab_size)");
        Flat(inputs.AttentionMask, "attention_mask", b.AttentionMask, batch, seq, src, 2, "not 0 or 1");
        return b;
    }

    private static void Flat(int[][] rows, string name, int[] flat, int batch, int seq, string src, int limit, string outside)
    {
        if (rows.Length != batch) throw PreTrainingInputs.Bad(src, $"{name} has {rows.Length} rows, input_ids has {batch}");
        for (int b = 0; b < batch; b++)
        {
            if (rows[b].Length != seq)
                throw PreTrainingInputs.Bad(src, $"{name}[{b}] has {rows[b].Length} values, input_ids[0] has {seq} (all rows must be the same length: pad them)");
            for (int t = 0; t < seq; t++)
            {
                int x = rows[b][t];
                if ((uint)x >= (uint)limit) throw PreTrainingInputs.Bad(src, $"{name}[{b}][{t}] = {x} is {outside}");
                flat[b * seq + t] = x;
            }
        }
    }
}
