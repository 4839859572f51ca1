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
        DQkv = d.Reallocate(DQkv, DType.Float32, n, 3 * h);
        DProbs = d.Reallocate(DProbs, DType.Float32, batch, c.NumAttentionHeads, seq, seq);
        DCtx = d.Reallocate(DCtx, DType.Float32, n, h);
        DDense = d.Reallocate(DDense, DType.Float32, n, h);
        DMid = d.Reallocate(DMid, DType.Float32, n, h);
        DInter = d.Reallocate(DInter, DType.Float32, n, c.IntermediateSize);
        DHidden0 = d.Reallocate(DHidden0, DType.Float32, n, h);
        DHidden1 = d.Reallocate(DHidden1, DType.Float32, n, h);
    }
}
