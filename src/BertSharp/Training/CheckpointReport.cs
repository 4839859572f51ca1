namespace BertSharp.Training;

/// <summary>A checkpoint folder now complete on disk.</summary>
public sealed record CheckpointReport(long Step, string Folder, CheckpointReason Reason);
