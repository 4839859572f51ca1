// PretrainJob (being rewritten onto the library's Trainer) still names the old CLI loader; these forward to the library.
// Delete this file once nothing under Pretraining/ uses it.
global using LoadedCheckpoint = BertSharp.IO.PretrainedModel;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

/// <summary>Forwards to <see cref="PretrainedModel"/> (the one loader) for code not yet moved to the library.</summary>
public static class CheckpointLoading
{
    public const string CheckpointsFolder = PretrainedModel.CheckpointsFolder;

    public static PretrainedModel Load(string path) => PretrainedModel.Load(path);

    public static void WriteTokenizerConfig(string folder, bool lowerCase, int maxLength) =>
        ModelFolder.WriteTokenizerConfig(folder, lowerCase, maxLength);
}
