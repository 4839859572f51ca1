using System.Runtime.CompilerServices;

namespace BertSharp.Tensors;

/// <summary>Interpolated-string handler that formats only when the check it feeds has failed.</summary>
[InterpolatedStringHandler]
internal ref struct LazyText
{
    private DefaultInterpolatedStringHandler _inner;
    private readonly bool _enabled;

    public LazyText(int literalLength, int formattedCount, int length, long need, out bool enabled)
    {
        _enabled = enabled = length < need;
        _inner = enabled ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    public void AppendLiteral(string s) { if (_enabled) _inner.AppendLiteral(s); }
    public void AppendFormatted<T>(T value) { if (_enabled) _inner.AppendFormatted(value); }
    public string ToStringAndClear() => _enabled ? _inner.ToStringAndClear() : "";
}
