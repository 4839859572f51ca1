namespace BertSharp.Text;

/// <summary>Progress of a download.</summary>
/// <param name="Received">bytes on disk so far (a resumed part included)</param>
/// <param name="Total">the file's size, when the server says</param>
public readonly record struct DownloadProgress(long Received, long? Total);
