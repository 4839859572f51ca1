namespace BertSharp.Data;

/// <summary>One tokenized, truncated example: content ids (no [CLS]/[SEP]) and its label id (−1 when unknown).</summary>
public sealed record LabelledExample(int[] Tokens, int Label, int OriginalTokens)
{
    public bool Truncated => OriginalTokens > Tokens.Length;
}
