using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Pipelines;

/// <summary>
/// The probability that text B follows text A, from BERT's next-sentence head:
/// <code>var nsp = new NextSentencePipeline(PretrainedModel.Load("runs/sample"));
/// double p = nsp.Run("i saw it.", "it was great.").IsNextProbability;</code>
/// Not thread-safe: use one pipeline per thread.
/// </summary>
public sealed class NextSentencePipeline
{
    private readonly BertForPreTraining _net;
    private readonly PairInputs _inputs;

    /// <summary>A pipeline over <paramref name="model"/>'s NSP head (dropout off).</summary>
    public NextSentencePipeline(PretrainedModel model)
    {
        Model = model;
        _net = new BertForPreTraining(model.Parameters);
        _inputs = new PairInputs(model);
    }

    /// <summary>The model the pipeline runs.</summary>
    public PretrainedModel Model { get; }

    /// <summary>P(B follows A), with <c>[CLS] A [SEP] B [SEP]</c> cut longest-first to the model's length.</summary>
    public NextSentenceResult Run(string a, string b)
    {
        _inputs.Encode(a, b);
        float[] p = NspProbabilities();
        return new NextSentenceResult(a, b, p[0], _inputs.Truncated);
    }

    /// <summary>Runs the model on the encoded pair: softmax over [IsNext, Random] (the one call into the model).</summary>
    private float[] NspProbabilities()
    {
        _net.Forward(_inputs.Batch(), DropoutContext.Off);
        var p = _net.Device.ToArray(_net.Heads.NspLogits.Slice(0, 2));
        Probabilities.Softmax(p);
        return p;
    }
}
