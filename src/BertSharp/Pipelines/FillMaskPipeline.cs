using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Pipelines;

/// <summary>
/// The most likely tokens for each <c>[MASK]</c> in a text, with the tokenizer the model was trained with:
/// <code>var fill = new FillMaskPipeline(PretrainedModel.Load("runs/sample"));
/// var r = fill.Run("great [MASK] .");</code>
/// Not thread-safe: use one pipeline per thread.
/// </summary>
public sealed class FillMaskPipeline
{
    private readonly BertForPreTraining _net;
    private readonly PairInputs _inputs;

    /// <summary>A pipeline over <paramref name="model"/>'s MLM head (dropout off).</summary>
    public FillMaskPipeline(PretrainedModel model)
    {
        Model = model;
        _net = new BertForPreTraining(model.Parameters);
        _inputs = new PairInputs(model);
    }

    /// <summary>The model the pipeline runs.</summary>
    public PretrainedModel Model { get; }

    /// <summary>The <paramref name="topK"/> most likely tokens for every [MASK] in <paramref name="text"/>.
    /// A text without [MASK] (within the model's length) is a <see cref="ErrorKind.BadInput"/> error.</summary>
    public FillMaskResult Run(string text, int topK = 5)
    {
        if (topK < 1) throw new BertSharpException($"top-k: must be at least 1, got {topK}", ErrorKind.Usage);
        _inputs.Encode(text, null);
        if (_inputs.MaskCount == 0)
            throw new BertSharpException($"no [MASK] in \"{Probabilities.Shorten(text)}\""
                + (_inputs.Truncated ? $" within the model's {Model.MaxSeqLength} tokens" : ""));
        var vocab = Model.Vocabulary;
        int k = Math.Min(topK, Model.Config.VocabSize);
        var masks = new MaskPrediction[_inputs.MaskCount];
        float[] probabilities = MaskProbabilities();
        int v = Model.Config.VocabSize;
        for (int m = 0; m < masks.Length; m++)
        {
            var row = probabilities.AsSpan(m * v, v);
            var top = Probabilities.TopK(row, k);
            // Token ids past the vocabulary file (a published model may have spare rows) print as their id.
            var predictions = new TokenPrediction[top.Length];
            for (int r = 0; r < top.Length; r++)
                predictions[r] = new TokenPrediction(top[r] < vocab.Count ? vocab[top[r]] : $"[{top[r]}]", top[r], row[top[r]]);
            masks[m] = new MaskPrediction(_inputs.Positions[m], predictions);
        }
        return new FillMaskResult(text, masks, _inputs.Truncated);
    }

    /// <summary>Runs the model on the encoded text: [masks, vocab] softmax probabilities (the one call into the model).</summary>
    private float[] MaskProbabilities()
    {
        _net.Forward(_inputs.Batch(), DropoutContext.Off);
        int v = Model.Config.VocabSize;
        var result = _net.Device.ToArray(_net.Heads.MlmLogits.Slice(0, _inputs.MaskCount * v));
        for (int m = 0; m < _inputs.MaskCount; m++) Probabilities.Softmax(result.AsSpan(m * v, v));
        return result;
    }
}
