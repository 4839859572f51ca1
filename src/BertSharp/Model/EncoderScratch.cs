using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>Buffers the encoder layers use one at a time (every backward intermediate), allocated once per
/// capacity shape on the model's device and shared by all layers.</summary>
internal sealed class EncoderScratch
{
    public DeviceTensor DQkv = null!;     // [B·T, 3H]
    public DeviceTensor DProbs = null!;   // [B, NH, T, T]
    public DeviceTensor DCtx = null!;     // [B·T, H]
    public DeviceTensor DDense = null!;   // [B·T, H]  gradient into a dense output (after dropout backward)
    public DeviceTensor DMid = null!;     // [B·T, H]  d(attention LayerNorm output)
    public DeviceTensor DInter = null!;   // [B·T, I]
    public DeviceTensor DHidden0 = null!, DHidden1 = null!; // [B·T, H] ping-pong between layers

    public void Allocate(Device d, BertConfig c, int batch, int seq)
    {
        int n = batch * seq, h = c.HiddenSize;
        if ((long)batch * c.NumAttentionHeads * seq * seq > Array.MaxLength)
            throw new ArgumentException($"batch {batch} x {c.NumAttentionHeads} heads x {seq}^2 attention scores do not fit in one buffer");
        var act = d.ActivationType;
        DQkv = d.Reallocate(DQkv, act, n, 3 * h);
        DProbs = d.Reallocate(DProbs, act, batch, c.NumAttentionHeads, seq, seq);
        DCtx = d.Reallocate(DCtx, act, n, h);
        DDense = d.Reallocate(DDense, act, n, h);
        DMid = d.Reallocate(DMid, act, n, h);
        DInter = d.Reallocate(DInter, act, n, c.IntermediateSize);
        DHidden0 = d.Reallocate(DHidden0, act, n, h);
        DHidden1 = d.Reallocate(DHidden1, act, n, h);
    }
}
