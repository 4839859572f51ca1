namespace BertSharp.Data;

/// <summary>One tokenized, truncated example: content ids (no [CLS]/[SEP]) and its label id (−1 when unknown).</summary>
public sealed record LabelledExample(int[] Tokens, int Label, int OriginalTokens)
{
    /// <summary>True when the text had more tokens than were kept.</summary>
    public bool Truncated => OriginalTokens > Tokens.Length;
}
