using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>The stack of <see cref="BertLayer"/>s.</summary>
public sealed class BertEncoder
{
    private readonly EncoderScratch _s;
    /// <summary>The layers, first to last (<see cref="BertConfig.NumHiddenLayers"/> of them).</summary>
    public BertLayer[] Layers { get; }

    internal BertEncoder(BertConfig c, BertParameters p, EncoderScratch s)
    {
        _s = s;
        Layers = new BertLayer[c.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = new BertLayer(c, p, s, i);
    }

    /// <summary>[B·T, H]: the last layer's output (sequence_output).</summary>
    public TensorView Output => Layers[^1].Hidden;

    internal void Allocate(int maxBatch, int maxSeq)
    {
        foreach (var l in Layers) l.Allocate(maxBatch, maxSeq);
    }

    internal void SetShape(int batch, int seq)
    {
        foreach (var l in Layers) l.SetShape(batch, seq);
    }

    /// <summary>x [B·T, H] (the embeddings' output), additiveMask [B, T]: runs every layer; the result is <see
    /// cref="Output"/>.</summary>
    public void Forward(TensorView x, TensorView additiveMask, in DropoutContext d)
    {
        var input = x;
        foreach (var l in Layers)
        {
            l.Forward(input, additiveMask, d);
            input = l.Hidden;
        }
    }

    /// <summary>From d(sequence_output) to d(embedding output), returned in a scratch buffer.</summary>
    public TensorView Backward(TensorView dOutput, TensorView x, in DropoutContext d)
    {
        int len = x.Length;
        var dy = dOutput;
        TensorView dx = default;
        for (int i = Layers.Length - 1; i >= 0; i--)
        {
            // Ping-pong between the two scratch buffers (layer i reads dy and writes dx).
            dx = (((Layers.Length - 1 - i) & 1) == 0 ? _s.DHidden0 : _s.DHidden1).Prefix(len);
            Layers[i].Backward(dy, i == 0 ? x : Layers[i - 1].Hidden, dx, d);
            dy = dx;
        }
        return dx;
    }
}
