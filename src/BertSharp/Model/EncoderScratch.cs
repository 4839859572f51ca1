namespace BertSharp.Model;

/// <summary>Buffers the encoder layers use one at a time (forward temporaries and every backward
/// intermediate), allocated once per (batch, seq) shape and shared by all layers.</summary>
public sealed class EncoderScratch
{
    public float[] DQkv = [];     // [B·T, 3H]
    public float[] DProbs = [];   // [B, NH, T, T]
    public float[] DCtx = [];     // [B·T, H]
    public float[] DDense = [];   // [B·T, H]  gradient into a dense output (after dropout backward)
    public float[] DMid = [];     // [B·T, H]  d(attention LayerNorm output)
    public float[] DInter = [];   // [B·T, I]
    public float[] DHidden0 = [], DHidden1 = []; // [B·T, H] ping-pong between layers

    public void Allocate(BertConfig c, int batch, int seq)
    {
        int n = batch * seq, h = c.HiddenSize;
        DQkv = new float[n * 3 * h];
        DProbs = new float[(long)batch * c.NumAttentionHeads * seq * seq is var s && s <= Array.MaxLength ? (int)s
            : throw new ArgumentException($"batch {batch} x {c.NumAttentionHeads} heads x {seq}^2 attention scores do not fit in one buffer")];
        DCtx = new float[n * h];
        DDense = new float[n * h];
        DMid = new float[n * h];
        DInter = new float[n * c.IntermediateSize];
        DHidden0 = new float[n * h];
        DHidden1 = new float[n * h];
    }
}
