using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Where one tensor (or a run of adjacent ones) lives in the flat parameter buffers, looked up once by name when a
/// layer is built; the views themselves are taken at each use, because <see cref="BertParameters.ProductValues"/> can
/// change tensor (its bf16 copy is allocated lazily).
/// </summary>
internal readonly record struct ParameterView(int Offset, int Length)
{
    /// <summary>The tensor <paramref name="name"/> (HF's name).</summary>
    public static ParameterView Of(BertParameterLayout layout, string name)
    {
        var e = layout[name];
        return new ParameterView(e.Offset, e.Length);
    }

    /// <summary>From the start of <paramref name="first"/> to the end of <paramref name="last"/>, which the layout
    /// places adjacent (the fused Q, K, V weights and biases).</summary>
    public static ParameterView Spanning(BertParameterLayout layout, string first, string last)
    {
        var a = layout[first];
        var b = layout[last];
        return new ParameterView(a.Offset, b.Offset + b.Length - a.Offset);
    }

    /// <summary>Its values (float32 master weights).</summary>
    public TensorView Value(BertParameters p) => p.Values.View(Offset, Length);

    /// <summary>Its gradients.</summary>
    public TensorView Gradient(BertParameters p) => p.Gradients.View(Offset, Length);

    /// <summary>What matrix products read as its weights (<see cref="BertParameters.ProductValues"/>).</summary>
    public TensorView Product(BertParameters p) => p.ProductValues.View(Offset, Length);
}
