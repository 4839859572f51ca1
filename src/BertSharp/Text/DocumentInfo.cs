namespace BertSharp.Text;

/// <summary>Where a document came from: its split (index into <see cref="ITokenizedCorpus.SplitNames"/>),
/// its class label (−1 when unlabelled) and, for IMDB, the star rating from the file name (0 when none).</summary>
public readonly record struct DocumentInfo(int Split, int Label, int Rating);
