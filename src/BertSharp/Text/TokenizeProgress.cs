namespace BertSharp.Text;

/// <summary>Progress of <see cref="CorpusTokenizer.Build"/>, reported as it goes.</summary>
/// <param name="Documents">documents read so far</param>
/// <param name="Chars">characters read so far</param>
/// <param name="Tokens">tokens written so far</param>
public readonly record struct TokenizeProgress(long Documents, long Chars, long Tokens);
