using BertSharp.Tests.Model;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

public class LearningRateScheduleTests
{
    [Fact]
    public void Linear_warmup_then_decay_matches_the_reference_script()
    {
        var meta = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ModelTestFiles.Fixture("bert_golden.json"))).RootElement;
        var lrs = meta.GetProperty("learning_rates").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var s = new LearningRateSchedule(ScheduleKind.Linear, 1e-3, 2, 10);
        for (int t = 1; t <= lrs.Length; t++) Assert.Equal(lrs[t - 1], s.At(t), 15);
        Assert.Equal(1e-3, s.At(2), 15);
        Assert.Equal(0.0, s.At(10));
        Assert.Equal(0.0, s.At(12));
    }

    [Fact]
    public void Cosine_and_constant()
    {
        var c = new LearningRateSchedule(ScheduleKind.Cosine, 1.0, 10, 110);
        Assert.Equal(0.1, c.At(1), 12);
        Assert.Equal(1.0, c.At(10), 12);
        Assert.Equal(0.5, c.At(60), 12);
        Assert.Equal(0.0, c.At(110), 12);
        var k = new LearningRateSchedule(ScheduleKind.Constant, 2.0, 4, 100);
        Assert.Equal(1.0, k.At(2), 12);
        Assert.Equal(2.0, k.At(500), 12);
    }

    [Fact]
    public void Bad_settings_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new LearningRateSchedule(ScheduleKind.Linear, 0, 1, 10).Validate());
        Assert.Throws<ArgumentException>(() => new LearningRateSchedule(ScheduleKind.Linear, 1, 10, 10).Validate());
        Assert.Contains("unknown learning-rate schedule", Assert.Throws<ArgumentException>(() => LearningRateSchedule.ParseKind("step")).Message);
    }
}
