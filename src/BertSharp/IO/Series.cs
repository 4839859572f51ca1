namespace BertSharp.IO;

/// <summary>One line on a chart: (x, y) points in order, drawn as a polyline, optionally with dots.</summary>
public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, string Color,
    double Width = 1.5, bool Markers = false, string? Dash = null, double Opacity = 1.0);
