namespace BertSharp.Tensors;

/// <summary>A loop body over a half-open range of work items. Implement it on a struct so that
/// the call is devirtualised and nothing is allocated.</summary>
public interface IRangeBody
{
    /// <summary>Processes the work items [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Invoke(int start, int end);
}
