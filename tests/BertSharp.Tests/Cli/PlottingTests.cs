using System.Xml.Linq;
using BertSharp.Cli.Commands;
using BertSharp.IO;
using BertSharp.Cli.Pretraining;

namespace BertSharp.Tests.Cli;

public class PlottingTests
{
    [Theory]
    [InlineData(0, 1, 5, new[] { 0, 0.2, 0.4, 0.6, 0.8, 1.0 })]
    [InlineData(0, 1500, 6, new[] { 0, 250, 500, 750, 1000, 1250, 1500.0 })]
    [InlineData(3.1, 7.4, 5, new[] { 3, 4, 5, 6, 7, 8.0 })]
    public void NiceTicksAreRoundAndCoverTheRange(double min, double max, int count, double[] expected)
    {
        var ticks = SvgChart.NiceTicks(min, max, count);
        Assert.Equal(expected.Length, ticks.Count);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], ticks[i], 9);
    }

    [Fact]
    public void ChartIsWellFormedSvgWithOneLinePerSeries()
    {
        var p = new Panel { Title = "Loss <&>", Reference = (0.5, "chance") };
        p.Series.Add(new Series("a", [(0, 1.0), (1, 0.5), (2, double.NaN), (3, 0.25)], "#123456"));
        p.Series.Add(new Series("b", [(1, 2.0)], "#654321", Markers: true));
        p.Series.Add(new Series("empty", [], "#000000"));
        var doc = XDocument.Parse(SvgChart.Render("t", [p, new Panel { Title = "nothing" }]));
        var lines = doc.Descendants().Where(e => e.Name.LocalName == "polyline").ToList();
        Assert.Single(lines); // "a" (its NaN point skipped); "b" has one point: a dot; "empty" nothing
        Assert.Equal(3, lines[0].Attribute("points")!.Value.Trim().Split(' ').Length);
        Assert.Contains(doc.Descendants(), e => e.Name.LocalName == "text" && e.Value == "Loss <&>");
    }

    [Fact]
    public void TickLabelsKeepTheHalfOfAStepOf2Point5()
    {
        var p = new Panel { Title = "loss" };
        p.Series.Add(new Series("a", [(0, 0.5), (1000, 12.2)], "#000"));
        var labels = XDocument.Parse(SvgChart.Render("t", [p])).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value).ToList();
        Assert.Contains("7.5", labels);
        Assert.Contains("2.5", labels);
        Assert.DoesNotContain("8", labels);
    }

    [Fact]
    public void SparklineAndTopK()
    {
        Assert.Equal("▁▅█", TrainingDisplay.Sparkline([0, 0.5, 1], 10)); // 0.5 of 7 steps rounds to 4 (to even)
        Assert.Equal("█▁", TrainingDisplay.Sparkline([4, 4, 1, 1], 2));
        Assert.Equal("", TrainingDisplay.Sparkline([], 10));
        Assert.Equal([3, 1, 0], BertSharp.Pipelines.Probabilities.TopK([0.2f, 0.3f, 0.1f, 0.4f], 3));
        Assert.Equal([1, 2], BertSharp.Pipelines.Probabilities.TopK([0f, 1f, 1f, 0.5f], 2)); // ties: lower id first
    }
}
