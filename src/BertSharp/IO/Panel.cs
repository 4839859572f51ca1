namespace BertSharp.IO;

/// <summary>One panel: a title, axis labels, the series and an optional horizontal reference line.</summary>
public sealed class Panel
{
    /// <summary>Shown above the panel.</summary>
    public required string Title { get; init; }
    /// <summary>Label of the x axis.</summary>
    public string XLabel { get; init; } = "step";
    /// <summary>The curves, drawn in order.</summary>
    public List<Series> Series { get; } = [];
    /// <summary>A dashed horizontal line at Y with a label (e.g. chance level); null for none.</summary>
    public (double Y, string Label)? Reference { get; init; }
    /// <summary>Fixed y range (e.g. 0..1 for accuracies); null: from the data.</summary>
    public (double Min, double Max)? YRange { get; init; }
    /// <summary>Format of y tick labels: "P0" for percentages, null for plain numbers.</summary>
    public string? YFormat { get; init; }
}
