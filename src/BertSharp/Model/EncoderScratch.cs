namespace BertSharp.Model;

/// <summary>Buffers the encoder layers use one at a time (forward temporaries and every backward
/// intermediate), allocated once per (batch, seq) shape and shared by all layers.</summary>
public sealed class EncoderScratch
{
    public float[] Qkv = [];      // [B·T, 3H]   Q, K, V before the head split
    public float[] CtxHeads = []; // [B, NH, T, D]
    public float[] DQkv = [];     // [B·T, 3H]
    public float[] DQkvHeads = [];// [3, B, NH, T, D]
    public float[] DProbs = [];   // [B, NH, T, T]
    public float[] DCtxHeads = [];// [B, NH, T, D]
    public float[] DCtx = [];     // [B·T, H]
    public float[] DResidual = [];// [B·T, H]  gradient flowing along the residual into LayerNorm's input
    public float[] DDense = [];   // [B·T, H]  gradient into a dense output (after dropout backward)
    public float[] DMid = [];     // [B·T, H]  d(attention LayerNorm output)
    public float[] DInter = [];   // [B·T, I]
    public float[] DHidden0 = [], DHidden1 = []; // [B·T, H] ping-pong between layers

    public void Allocate(BertConfig c, int batch, int seq)
    {
        int n = batch * seq, h = c.HiddenSize;
        Qkv = new float[n * 3 * h];
        CtxHeads = new float[n * h];
        DQkv = new float[n * 3 * h];
        DQkvHeads = new float[n * 3 * h];
        DProbs = new float[(long)batch * c.NumAttentionHeads * seq * seq is var s && s <= Array.MaxLength ? (int)s
            : throw new ArgumentException($"batch {batch} x {c.NumAttentionHeads} heads x {seq}^2 attention scores do not fit in one buffer")];
        DCtxHeads = new float[n * h];
        DCtx = new float[n * h];
        DResidual = new float[n * h];
        DDense = new float[n * h];
        DMid = new float[n * h];
        DInter = new float[n * c.IntermediateSize];
        DHidden0 = new float[n * h];
        DHidden1 = new float[n * h];
    }
}
