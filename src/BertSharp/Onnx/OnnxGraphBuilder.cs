using System.Runtime.InteropServices;
using BertSharp.IO;
using BertSharp.Onnx.Proto;
using Google.Protobuf;

namespace BertSharp.Onnx;

/// <summary>Appends nodes, initializers, inputs and outputs to an ONNX <see cref="GraphProto"/> (the messages generated
/// from onnx.proto by protoc; this class only fills them in). Every intermediate value gets a unique name.</summary>
internal sealed class OnnxGraphBuilder
{
    private int _next;
    private readonly WeightsDtype _weights;

    public OnnxGraphBuilder(string name, WeightsDtype weights)
    {
        Graph = new GraphProto { Name = name };
        _weights = weights;
    }

    public GraphProto Graph { get; }

    /// <summary>A float32 weight: an initializer in the export's dtype; a float16 one is cast back to float32 by a node
    /// (ONNX Runtime folds the cast once when it loads the model).</summary>
    public string Weight(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        if (_weights == WeightsDtype.F32) return Initializer(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values), dims);
        var bits = WeightsDtypes.Narrow(values, _weights, name, "ONNX export");
        Initializer(name, TensorProto.Types.DataType.Float16, MemoryMarshal.AsBytes(bits.AsSpan()), dims);
        return Node("Cast", [name], [Attr("to", (long)TensorProto.Types.DataType.Float)], name + "/float32");
    }

    /// <summary>A float32 constant (kept in float32 whatever the weights' dtype: scalars such as 1/√d and 0.5).</summary>
    public string Constant(float value) => Initializer(Fresh("const"), TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(new[] { value }.AsSpan()));

    /// <summary>An int64 constant vector (shapes, axes, perms), or a scalar when <paramref name="scalar"/>.</summary>
    public string Int64s(long[] values, bool scalar = false) =>
        Initializer(Fresh("ints"), TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), scalar ? [] : [values.Length]);

    private string Initializer(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> littleEndian, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(littleEndian) };
        t.Dims.Add(dims);
        Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string op, string[] inputs, AttributeProto[]? attributes = null, string? output = null)
    {
        output ??= Fresh(op);
        var n = new NodeProto { OpType = op, Name = output + "/node" };
        n.Input.Add(inputs);
        n.Output.Add(output);
        if (attributes is not null) n.Attribute.Add(attributes);
        Graph.Node.Add(n);
        return output;
    }

    public string Fresh(string stem) => $"/{stem}_{_next++}";

    public static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    public static AttributeProto Attr(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    public static AttributeProto Attr(string name, long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    /// <summary>A graph input or output: a tensor of <paramref name="type"/> with named (dynamic) or fixed dimensions.</summary>
    public static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s }
                                        : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
