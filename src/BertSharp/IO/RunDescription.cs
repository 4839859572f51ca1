using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// What a pretraining run folder holds, read without loading the model: its settings (run.json), parameter count,
/// checkpoints, how far it got and its metrics. <c>bertsharp info RUN</c> prints this.
/// <code>
/// if (RunDescription.IsRunFolder("runs/sample"))
/// {
///     var run = RunDescription.Read("runs/sample");
///     Console.WriteLine($"{run.StepsSaved} of {run.Settings.Steps} steps saved, best loss {run.Metrics?.Best?.Loss}");
/// }
/// </code>
/// </summary>
public sealed class RunDescription
{
    private RunDescription(string folder, RunSettings settings, IReadOnlyList<(long Step, string Path)> checkpoints, MetricsReader? metrics) =>
        (Folder, Settings, Checkpoints, Metrics) = (folder, settings, checkpoints, metrics);

    /// <summary>Whether <paramref name="path"/> is a run folder (a folder with run.json that is not itself a checkpoint).</summary>
    public static bool IsRunFolder(string path) =>
        Directory.Exists(path) && PretrainedModel.IsRunFolder(path) && !PretrainedModel.IsCheckpoint(path);

    /// <summary>Reads the run folder <paramref name="runDir"/>: its run.json, checkpoint list and metrics.jsonl (when there).</summary>
    public static RunDescription Read(string runDir) =>
        new(Path.GetFullPath(runDir), RunSettings.Load(Path.Combine(runDir, RunSettings.FileName)),
            Checkpoint.List(Path.Combine(runDir, PretrainedModel.CheckpointsFolder)), MetricsReader.OpenRun(runDir));

    /// <summary>The run folder's full path.</summary>
    public string Folder { get; }
    /// <summary>The run's settings (run.json).</summary>
    public RunSettings Settings { get; }
    /// <summary>The model's parameter count.</summary>
    public long Parameters => BertParameterLayout.CountParameters(Settings.Model);
    /// <summary>The completed checkpoints, oldest first.</summary>
    public IReadOnlyList<(long Step, string Path)> Checkpoints { get; }
    /// <summary>The step of the newest checkpoint (0 without any): where a continued run starts.</summary>
    public long StepsSaved => Checkpoints.Count > 0 ? Checkpoints[^1].Step : 0;
    /// <summary>Whether the newest checkpoint is at the run's last step.</summary>
    public bool Finished => StepsSaved >= Settings.Steps;
    /// <summary>The run's metrics.jsonl, or null when it has none yet.</summary>
    public MetricsReader? Metrics { get; }
}
