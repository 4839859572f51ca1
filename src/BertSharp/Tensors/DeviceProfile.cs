using System.Diagnostics;

namespace BertSharp.Tensors;

/// <summary>
/// The calls a <see cref="ProfilingDevice"/> timed, in issue order, each with the section of the step it ran in and
/// the part of the model it worked on. Sections are set by whoever drives the step, at a few coarse points
/// (<see cref="Enter"/>: forward, backward, optimizer); parts come from the call's operands (<see cref="PartOf"/>: a
/// model names the part whose parameters a view lies in), so the layers carry no profiling code.
/// <para>Not thread-safe: one thread drives a device.</para>
/// </summary>
public sealed class DeviceProfile
{
    private readonly List<KernelCall> _calls = [];
    private string _section = "";
    private bool _backward;

    /// <summary>Names the part of the model an operand of a call belongs to (kernel name, operand), or null when it
    /// says nothing (an activation); asked for each operand with a tensor, parameters first, until one answers.
    /// Null: no parts (every call's <see cref="KernelCall.Part"/> is null).</summary>
    public Func<string, TensorView, string?>? PartOf { get; set; }

    /// <summary>The section the next calls are recorded in.</summary>
    public string Section => _section;

    /// <summary>The calls so far, in issue order.</summary>
    public IReadOnlyList<KernelCall> Calls => _calls;

    /// <summary>Records the following calls in <paramref name="section"/>; <paramref name="backward"/>: a backward pass,
    /// whose layers run in reverse order (see <see cref="Attributed"/>).</summary>
    public void Enter(string section, bool backward = false) => (_section, _backward) = (section, backward);

    /// <summary>Forgets the calls recorded so far (the section stays).</summary>
    public void Clear() => _calls.Clear();

    internal void Record(string kernel, long ticks, ReadOnlySpan<TensorView> operands)
    {
        string? part = null;
        if (PartOf is { } partOf)
            foreach (var v in operands)
                if (v.Tensor is not null && (part = partOf(kernel, v)) is not null) break;
        _calls.Add(new KernelCall(_section, _backward, kernel, part, ticks / (double)Stopwatch.Frequency));
    }

    /// <summary>
    /// The calls with every one counted with a part. A call whose operands name none (softmax, dropout, GELU, attention's
    /// batched products, the residual add: kernels over activations alone) goes with the nearest call of its section
    /// that does — the one before it in a forward section, the one after it in a backward section — because a layer
    /// runs its parametrised kernel first and the rest on that kernel's output, and its backward pass the other way
    /// round. With none in that direction, the nearest in the other; a section with none at all: <paramref
    /// name="unplaced"/>.
    /// </summary>
    public IReadOnlyList<KernelCall> Attributed(string unplaced = "other")
    {
        var result = _calls.ToArray();
        int start = 0;
        while (start < result.Length)
        {
            int end = start;
            while (end < result.Length && result[end].Section == result[start].Section && result[end].Backward == result[start].Backward) end++;
            bool backward = result[start].Backward;
            for (int i = start; i < end; i++)
            {
                if (result[i].Part is not null) continue;
                string? part = Nearest(i, start, end, backward ? 1 : -1) ?? Nearest(i, start, end, backward ? -1 : 1);
                result[i] = result[i] with { Part = part ?? unplaced };
            }
            start = end;
        }
        return result;
    }

    // The part of the nearest call from i in direction step (within [start, end)) that its operands placed.
    private string? Nearest(int i, int start, int end, int step)
    {
        for (int j = i + step; j >= start && j < end; j += step)
            if (_calls[j].Part is { } p) return p;
        return null;
    }

    /// <summary>Seconds summed over <paramref name="calls"/> by <paramref name="key"/> (e.g. section and part), in order of
    /// first appearance.</summary>
    public static IReadOnlyList<(string Key, double Seconds)> Sum(IEnumerable<KernelCall> calls, Func<KernelCall, string> key)
    {
        var order = new List<string>();
        var sums = new Dictionary<string, double>();
        foreach (var c in calls)
        {
            string k = key(c);
            if (!sums.TryGetValue(k, out double s)) order.Add(k);
            sums[k] = s + c.Seconds;
        }
        return order.Select(k => (k, sums[k])).ToList();
    }
}
