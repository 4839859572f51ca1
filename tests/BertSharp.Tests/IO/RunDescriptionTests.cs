using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.IO;

/// <summary>Describing a run folder from a program (what <c>bertsharp info RUN</c> prints), without the CLI.</summary>
public class RunDescriptionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-run-description-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Row(string split, long step, double loss, double elapsed) =>
        $"{{\"split\":\"{split}\",\"step\":{step},\"loss\":{loss},\"mlm_loss\":1,\"mlm_acc\":0.25,\"nsp_acc\":0.5,\"elapsed_s\":{elapsed}}}";

    [Fact]
    public void DescribesARunFolderFromItsFiles()
    {
        var settings = new RunSettings { Steps = 10, Preset = "tiny", Model = BertConfig.FromPreset("tiny", 100) };
        settings.Save(Path.Combine(_dir, RunSettings.FileName));
        Directory.CreateDirectory(Path.Combine(_dir, PretrainedModel.CheckpointsFolder, "checkpoint-8"));
        Directory.CreateDirectory(Path.Combine(_dir, PretrainedModel.CheckpointsFolder, "checkpoint-4"));
        // A torn last line (a run stopped mid-write) ends the reading, not the description.
        File.WriteAllText(Path.Combine(_dir, MetricsLog.JsonlName), string.Join("\n",
            Row("train", 1, 3.0, 1.5), Row("validation", 4, 2.0, 4.0), Row("validation", 8, 2.5, 9.0), "{\"split\":\"valid"));

        Assert.True(RunDescription.IsRunFolder(_dir));
        var run = RunDescription.Read(_dir);
        Assert.Equal(Path.GetFullPath(_dir), run.Folder);
        Assert.Equal(settings.ToJson(), run.Settings.ToJson());
        Assert.Equal(BertParameterLayout.CountParameters(settings.Model), run.Parameters);
        Assert.Equal([4L, 8L], run.Checkpoints.Select(c => c.Step));
        Assert.Equal(8, run.StepsSaved);
        Assert.False(run.Finished);
        var log = Assert.IsType<MetricsReader>(run.Metrics);
        Assert.Equal([4L, 8L], log.Validation.Select(r => r.Step));
        Assert.Equal(8, log.Last!.Step);
        Assert.Equal(4, log.Best!.Step);
        Assert.Equal(4, log.AtOrBefore(7)!.Step);
        Assert.Null(log.AtOrBefore(3));
        Assert.Equal(9.0, log.Elapsed);
    }

    [Fact]
    public void ANewRunHasNoCheckpointsOrMetricsAndACheckpointIsNoRunFolder()
    {
        new RunSettings { Steps = 5, Model = BertConfig.FromPreset("tiny", 100) }.Save(Path.Combine(_dir, RunSettings.FileName));
        var run = RunDescription.Read(_dir);
        Assert.Empty(run.Checkpoints);
        Assert.Equal(0, run.StepsSaved);
        Assert.False(run.Finished);
        Assert.Null(run.Metrics);
        Assert.Null(MetricsReader.OpenRun(_dir));
        Assert.False(RunDescription.IsRunFolder(Path.Combine(_dir, "missing")));
        // A checkpoint folder with a run.json beside its weights is read as the checkpoint it is.
        string checkpoint = Directory.CreateDirectory(Path.Combine(_dir, "ck")).FullName;
        foreach (var name in new[] { RunSettings.FileName, ModelFolder.ConfigFile, ModelFolder.WeightsFile }) File.WriteAllText(Path.Combine(checkpoint, name), "{}");
        Assert.False(RunDescription.IsRunFolder(checkpoint));
    }
}
