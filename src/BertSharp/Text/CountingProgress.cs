namespace BertSharp.Text;

/// <summary>How far counting a corpus's words has got (reported every 1,024 documents).</summary>
/// <param name="Documents">documents read so far</param>
/// <param name="Characters">characters in them</param>
public readonly record struct CountingProgress(long Documents, long Characters);
