using System.Globalization;
using System.Text;

namespace BertSharp.IO;

/// <summary>
/// A small SVG plotter for training curves: a grid of panels with "nice" ticks, gridlines, a legend and
/// a reference line. Plain SVG 1.1 with inline attributes, so any browser shows it without scripts.
/// </summary>
public static class SvgChart
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The SVG document: <paramref name="title"/> above <paramref name="panels"/> laid out <paramref
    /// name="columns"/> per row, each <paramref name="panelWidth"/> × <paramref name="panelHeight"/> pixels.</summary>
    public static string Render(string title, IReadOnlyList<Panel> panels, int columns = 2, int panelWidth = 560, int panelHeight = 340)
    {
        int rows = (panels.Count + columns - 1) / columns;
        int top = 44, width = columns * panelWidth, height = top + rows * panelHeight;
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\">\n");
        sb.Append($"<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n");
        sb.Append($"<text x=\"{width / 2}\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\" fill=\"#222\">{Escape(title)}</text>\n");
        for (int i = 0; i < panels.Count; i++)
            DrawPanel(sb, panels[i], (i % columns) * panelWidth, top + (i / columns) * panelHeight, panelWidth, panelHeight);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static void DrawPanel(StringBuilder sb, Panel p, double ox, double oy, double w, double h)
    {
        const double left = 64, right = 16, bottom = 46;
        // Legend rows between the title and the plot (so it never hides data), wrapped to the panel's width.
        var entries = p.Series.Where(s => s.Points.Count > 0).Select(s => (s.Name, s.Color, s.Dash, s.Markers, s.Opacity)).ToList();
        if (p.Reference is { } rr) entries.Add((rr.Label, "#888", "6 4", false, 1.0));
        var placed = new List<(double X, int Row)>();
        double cursor = 0;
        int row = 0;
        foreach (var e in entries)
        {
            double width = 22 + 6.2 * e.Name.Length + 14;
            if (cursor > 0 && cursor + width > w - left - right) (cursor, row) = (0, row + 1);
            placed.Add((cursor, row));
            cursor += width;
        }
        int legendRows = entries.Count == 0 ? 0 : row + 1;
        double topPad = 32 + 14 * Math.Max(1, legendRows);
        double px = ox + left, py = oy + topPad, pw = w - left - right, ph = h - topPad - bottom;
        sb.Append($"<text x=\"{F(ox + w / 2)}\" y=\"{F(oy + 20)}\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\" fill=\"#333\">{Escape(p.Title)}</text>\n");
        for (int i = 0; i < entries.Count; i++)
        {
            var (name, color, dash, markers, opacity) = entries[i];
            double lx = px + placed[i].X, ly = oy + 36 + 14 * placed[i].Row;
            sb.Append($"<line x1=\"{F(lx)}\" y1=\"{F(ly - 4)}\" x2=\"{F(lx + 18)}\" y2=\"{F(ly - 4)}\" stroke=\"{color}\" stroke-width=\"2\" stroke-opacity=\"{F(Math.Max(opacity, 0.35))}\"{(dash is null ? "" : $" stroke-dasharray=\"{dash}\"")}/>\n");
            if (markers) sb.Append($"<circle cx=\"{F(lx + 9)}\" cy=\"{F(ly - 4)}\" r=\"3\" fill=\"{color}\"/>\n");
            sb.Append($"<text x=\"{F(lx + 22)}\" y=\"{F(ly)}\" font-size=\"11\" fill=\"#333\">{Escape(name)}</text>\n");
        }

        var all = p.Series.SelectMany(s => s.Points).Where(q => double.IsFinite(q.X) && double.IsFinite(q.Y)).ToList();
        double xMin = all.Count > 0 ? all.Min(q => q.X) : 0, xMax = all.Count > 0 ? all.Max(q => q.X) : 1;
        double yMin, yMax;
        if (p.YRange is { } r) (yMin, yMax) = r;
        else
        {
            yMin = all.Count > 0 ? all.Min(q => q.Y) : 0;
            yMax = all.Count > 0 ? all.Max(q => q.Y) : 1;
            if (p.Reference is { } rf) (yMin, yMax) = (Math.Min(yMin, rf.Y), Math.Max(yMax, rf.Y));
            if (yMin >= 0 && yMin < 0.25 * yMax) yMin = 0; // show zero when it is near
        }
        if (xMax <= xMin) xMax = xMin + 1;
        if (yMax <= yMin) (yMin, yMax) = (yMin - 0.5 * Math.Max(1e-9, Math.Abs(yMin)), yMax + 0.5 * Math.Max(1e-9, Math.Abs(yMax)));
        var xTicks = NiceTicks(xMin, xMax, 6);
        var yTicks = NiceTicks(yMin, yMax, 5);
        if (p.YRange is null) (yMin, yMax) = (Math.Min(yMin, yTicks[0]), Math.Max(yMax, yTicks[^1]));
        double X(double x) => px + (x - xMin) / (xMax - xMin) * pw;
        double Y(double y) => py + ph - (y - yMin) / (yMax - yMin) * ph;

        sb.Append($"<rect x=\"{F(px)}\" y=\"{F(py)}\" width=\"{F(pw)}\" height=\"{F(ph)}\" fill=\"#fafafa\" stroke=\"#999\" stroke-width=\"1\"/>\n");
        double xStep = xTicks.Count > 1 ? xTicks[1] - xTicks[0] : 1, yStep = yTicks.Count > 1 ? yTicks[1] - yTicks[0] : 1;
        foreach (double t in xTicks)
        {
            if (t < xMin - 1e-9 || t > xMax + 1e-9) continue;
            sb.Append($"<line x1=\"{F(X(t))}\" y1=\"{F(py)}\" x2=\"{F(X(t))}\" y2=\"{F(py + ph)}\" stroke=\"#e2e2e2\" stroke-width=\"1\"/>\n");
            sb.Append($"<text x=\"{F(X(t))}\" y=\"{F(py + ph + 16)}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444\">{Escape(Tick(t, xStep, null))}</text>\n");
        }
        foreach (double t in yTicks)
        {
            if (t < yMin - 1e-12 || t > yMax + 1e-12) continue;
            sb.Append($"<line x1=\"{F(px)}\" y1=\"{F(Y(t))}\" x2=\"{F(px + pw)}\" y2=\"{F(Y(t))}\" stroke=\"#e2e2e2\" stroke-width=\"1\"/>\n");
            sb.Append($"<text x=\"{F(px - 6)}\" y=\"{F(Y(t) + 4)}\" text-anchor=\"end\" font-size=\"11\" fill=\"#444\">{Escape(Tick(t, yStep, p.YFormat))}</text>\n");
        }
        sb.Append($"<text x=\"{F(px + pw / 2)}\" y=\"{F(py + ph + 34)}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444\">{Escape(p.XLabel)}</text>\n");

        sb.Append($"<clipPath id=\"clip{F(ox)}_{F(oy)}\"><rect x=\"{F(px)}\" y=\"{F(py)}\" width=\"{F(pw)}\" height=\"{F(ph)}\"/></clipPath>\n");
        sb.Append($"<g clip-path=\"url(#clip{F(ox)}_{F(oy)})\">\n");
        if (p.Reference is { } reference)
            sb.Append($"<line x1=\"{F(px)}\" y1=\"{F(Y(reference.Y))}\" x2=\"{F(px + pw)}\" y2=\"{F(Y(reference.Y))}\" stroke=\"#888\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\n");
        foreach (var s in p.Series)
        {
            var pts = s.Points.Where(q => double.IsFinite(q.X) && double.IsFinite(q.Y)).ToList();
            if (pts.Count == 0) continue;
            if (pts.Count > 1)
            {
                sb.Append($"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"{F(s.Width)}\" stroke-opacity=\"{F(s.Opacity)}\" stroke-linejoin=\"round\"");
                if (s.Dash is not null) sb.Append($" stroke-dasharray=\"{s.Dash}\"");
                sb.Append(" points=\"");
                foreach (var (x, y) in pts) sb.Append(F(X(x))).Append(',').Append(F(Y(y))).Append(' ');
                sb.Append("\"/>\n");
            }
            if (s.Markers || pts.Count == 1)
                foreach (var (x, y) in pts)
                    sb.Append($"<circle cx=\"{F(X(x))}\" cy=\"{F(Y(y))}\" r=\"3\" fill=\"{s.Color}\"/>\n");
        }
        sb.Append("</g>\n");

    }

    /// <summary>About <paramref name="count"/> round tick values (1, 2, 2.5 or 5 × 10^k apart) covering [min, max].</summary>
    public static List<double> NiceTicks(double min, double max, int count)
    {
        double span = max - min;
        if (!(span > 0) || !double.IsFinite(span)) return [min];
        double raw = span / Math.Max(1, count);
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = mag * (raw / mag <= 1 ? 1 : raw / mag <= 2 ? 2 : raw / mag <= 2.5 ? 2.5 : raw / mag <= 5 ? 5 : 10);
        double start = Math.Floor(min / step + 1e-9) * step, end = Math.Ceiling(max / step - 1e-9) * step;
        var ticks = new List<double>();
        for (int i = 0; start + i * step <= end + step * 1e-6 && i < 100; i++) ticks.Add(Math.Round(start + i * step, 12));
        return ticks;
    }

    private static string Tick(double v, double step, string? format)
    {
        if (format is not null) return v.ToString(format, Inv);
        if (v == 0) return "0";
        double a = Math.Abs(step);
        if (a >= 1000 && Math.Abs(v) >= 10000) return (v / 1000).ToString("0.#", Inv) + "k";
        if (a >= 1) return v.ToString(Math.Abs(step - Math.Round(step)) < 1e-9 ? "0" : "0.#", Inv); // a 2.5 step shows 7.5, not 8
        if (a < 1e-3) return v.ToString("0.0e0", Inv);
        int decimals = (int)Math.Ceiling(-Math.Log10(a) - 1e-9);
        if (Math.Abs(step * Math.Pow(10, decimals) - Math.Round(step * Math.Pow(10, decimals))) > 1e-6) decimals++;
        return v.ToString("F" + decimals, Inv);
    }

    private static string F(double v) => v.ToString("0.##", Inv);

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
