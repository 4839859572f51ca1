using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The model's parameters and their gradients: two flat buffers on a <see cref="Tensors.Device"/> sharing
/// <see cref="BertParameterLayout"/> (llm.c's design). Views are named after HuggingFace's tensors; the host
/// reads and writes them only through explicit copies (<see cref="ToArray"/>, <see cref="Read"/>,
/// <see cref="Write"/>, <see cref="CopyFrom"/>), which is how checkpoints and initialisation reach them.
/// </summary>
public sealed class BertParameters : IDisposable
{
    /// <summary>Where each named tensor lives in <see cref="Values"/> and <see cref="Gradients"/>.</summary>
    public BertParameterLayout Layout { get; }
    /// <summary>The device both buffers live on.</summary>
    public Device Device { get; }
    /// <summary>[Layout.Length] Float32: every parameter.</summary>
    public DeviceTensor Values { get; }
    /// <summary>[Layout.Length] Float32: their gradients (accumulated by backward passes). Allocated on first use, so
    /// parameters that only ever run forward (inference, a distillation teacher) hold no second weights-sized buffer.</summary>
    public DeviceTensor Gradients => _shared.Gradients ??= Device.Allocate(DType.Float32, Layout.Length);

    /// <summary><see cref="Gradients"/> if something allocated them already, else null (nothing is allocated).</summary>
    internal DeviceTensor? AllocatedGradients => _shared.Gradients;

    /// <summary>Zero-filled parameters and gradients for <paramref name="config"/> (validated first: <see cref="ArgumentException"/>); call
    /// <see cref="Initialize"/> or copy a checkpoint in.</summary>
    /// <param name="config">the hyper-parameters</param>
    /// <param name="labels">a classifier head's labels, or null for none</param>
    /// <param name="device">where the buffers live (the CPU when null)</param>
    public BertParameters(BertConfig config, IReadOnlyList<string>? labels = null, Device? device = null)
    {
        config.Validate();
        Layout = new BertParameterLayout(config, labels);
        Device = device ?? Device.Cpu;
        Values = Device.Allocate(DType.Float32, Layout.Length);
        _shared = new Shared();
    }

    // What every BertParameters over the same buffers (To(device) of a device over the same memory) shares: the
    // gradients once allocated, and the bf16 copy of the values that matrix products read in bf16 precision with the
    // version of the values it holds.
    private sealed class Shared
    {
        public DeviceTensor? Gradients;
        public DeviceTensor? Tensor;
        public long Version, CopiedVersion = -1;
    }

    private readonly Shared _shared;

    /// <summary>
    /// What the matrix products read as weights: <see cref="Values"/> itself, or — on a device whose <see
    /// cref="Device.ActivationType"/> is BFloat16 — a bfloat16 copy of it (same layout), made once per update by <see
    /// cref="RefreshProductValues"/> rather than converted again at every use. Biases, LayerNorm and embedding tables are
    /// always read from <see cref="Values"/> (float32 master weights).
    /// </summary>
    public DeviceTensor ProductValues => _shared.Tensor is { } t && Device.ActivationType == DType.BFloat16 ? t : Values;

    /// <summary>Says that <see cref="Values"/> changed by a route other than this class's own methods (an optimiser
    /// step, a direct host write), so the next <see cref="RefreshProductValues"/> recopies them.</summary>
    public void MarkChanged() => _shared.Version++;

    /// <summary>Brings <see cref="ProductValues"/> up to date with <see cref="Values"/> (one cast of the flat buffer, only
    /// when they changed since the last call; nothing in float32). The model calls it at the start of each forward pass.</summary>
    public void RefreshProductValues()
    {
        if (Device.ActivationType != DType.BFloat16) return;
        if (_shared.Tensor is null)
        {
            _shared.Tensor = Device.Allocate(DType.BFloat16, Layout.Length);
            _shared.CopiedVersion = -1;
        }
        if (_shared.CopiedVersion == _shared.Version) return;
        Device.Cast(Values, _shared.Tensor);
        _shared.CopiedVersion = _shared.Version;
    }

    /// <summary>The hyper-parameters (the layout's).</summary>
    public BertConfig Config => Layout.Config;

    /// <summary>The classifier's labels, or null without a classifier head.</summary>
    public IReadOnlyList<string>? Labels => Layout.Labels;

    /// <summary>The tensor <paramref name="name"/> (HF's name) in <see cref="Values"/>.</summary>
    public TensorView Value(string name) { var e = Layout[name]; return Values.View(e.Offset, e.Length); }
    /// <summary>Its gradient in <see cref="Gradients"/>.</summary>
    public TensorView Gradient(string name) { var e = Layout[name]; return Gradients.View(e.Offset, e.Length); }

    /// <summary>Every value, copied to the host (layout order, gaps included).</summary>
    public float[] ToArray()
    {
        var a = new float[Layout.Length];
        Device.CopyToHost<float>(Values, a);
        return a;
    }

    /// <summary>SHA-256 of every value (float32, layout order), lower-case hex: which weights these are, whatever file they
    /// came from (a run records its teacher's).</summary>
    public string Sha256()
    {
        var values = ToArray();
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())));
    }

    /// <summary>Replaces every value with <paramref name="values"/> (a host copy in layout order, as <see cref="ToArray"/> gives).</summary>
    public void CopyFrom(ReadOnlySpan<float> values)
    {
        Device.CopyToDevice(values, Values);
        MarkChanged();
    }

    /// <summary>The tensor <paramref name="name"/>, copied to the host.</summary>
    public float[] Read(string name)
    {
        var v = Value(name);
        var a = new float[v.Length];
        Device.CopyToHost<float>(v, a);
        return a;
    }

    /// <summary>Replaces the tensor <paramref name="name"/> with <paramref name="values"/>.</summary>
    public void Write(string name, ReadOnlySpan<float> values)
    {
        Device.CopyToDevice(values, Value(name));
        MarkChanged();
    }

    /// <summary>Sets every gradient to zero (between optimiser updates; backward passes accumulate).</summary>
    public void ZeroGradients() => Device.Zero(Gradients);

    // The same buffers, used by another device over the same memory (the CPU in another precision).
    private BertParameters(BertParameters source, Device device)
    {
        (Layout, Device, Values, _shared) = (source.Layout, device, source.Values, source._shared);
    }

    /// <summary>These parameters on <paramref name="device"/>: this object on their own device; the same buffers (values
    /// and gradients shared, dispose only one of the two) on a device over the same memory (<see
    /// cref="Device.SharesMemoryWith"/>: the CPU in another <see cref="Precision"/>); else a copy (values only).</summary>
    public BertParameters To(Device device)
    {
        if (ReferenceEquals(device, Device)) return this;
        if (device.SharesMemoryWith(Device)) return new BertParameters(this, device);
        var p = new BertParameters(Config, Labels, device);
        p.CopyFrom(ToArray());
        return p;
    }

    /// <summary>
    /// These parameters with a new classifier head over <paramref name="labels"/> (replacing any it had), on the
    /// same device: every other tensor copied, the head initialised as BERT does (truncated normal, std
    /// initializer_range, bias 0) from <paramref name="seed"/>; <paramref name="std"/> overrides the standard deviation.
    /// </summary>
    public BertParameters WithClassifier(IReadOnlyList<string> labels, ulong seed, float? std = null)
    {
        var p = new BertParameters(Config, labels, Device);
        var src = ToArray();
        var dst = new float[p.Layout.Length];
        foreach (var e in Layout.Entries)
            if (e.Group != ParameterGroups.Classifier)
                src.AsSpan(e.Offset, e.Length).CopyTo(dst.AsSpan(p.Layout[e.Name].Offset, e.Length));
        var rng = new SplitMix64(seed);
        float sd = std ?? Config.InitializerRange;
        var w = p.Layout[BertParameterLayout.ClassifierWeight];
        for (int i = 0; i < w.Length; i++) dst[w.Offset + i] = (float)(sd * rng.NextTruncatedNormal(2.0));
        p.CopyFrom(dst);
        return p;
    }

    /// <summary>
    /// A shallower model of the same width made of every k-th encoder layer of these parameters, k = this model's layers
    /// / <paramref name="layers"/> (DistilBERT's initialisation of a student from its teacher): student layer i is a copy
    /// of layer i·k; the embeddings, pooler, pretraining heads and classifier (if any) are copied whole. On the same device.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layers"/> is not in [1, this model's layers] or does not divide them</exception>
    public BertParameters EveryKthLayer(int layers)
    {
        int n = Config.NumHiddenLayers;
        if (layers < 1 || layers > n || n % layers != 0)
            throw new ArgumentOutOfRangeException(nameof(layers), layers, $"a student of {layers} layers cannot take every k-th of {n} layers (it must divide {n})");
        int k = n / layers;
        var config = Config.Clone();
        config.NumHiddenLayers = layers;
        var p = new BertParameters(config, Labels, Device);
        var src = ToArray();
        var dst = new float[p.Layout.Length];
        foreach (var e in p.Layout.Entries)
            src.AsSpan(Layout[TeacherName(e.Name, k)].Offset, e.Length).CopyTo(dst.AsSpan(e.Offset, e.Length));
        p.CopyFrom(dst);
        return p;
    }

    /// <summary>The name of the tensor a student's tensor <paramref name="name"/> copies when it takes every
    /// <paramref name="k"/>-th layer: <c>bert.encoder.layer.i.…</c> → <c>bert.encoder.layer.(i·k).…</c>, others unchanged.</summary>
    public static string TeacherName(string name, int k)
    {
        const string prefix = "bert.encoder.layer.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return name;
        int dot = name.IndexOf('.', prefix.Length);
        int i = int.Parse(name.AsSpan(prefix.Length, dot - prefix.Length), System.Globalization.CultureInfo.InvariantCulture);
        return $"{prefix}{i * k}{name[dot..]}";
    }

    /// <summary>
    /// For a model pretrained at sequence length <paramref name="trained"/>: positions from <paramref name="trained"/>
    /// on, which training never reached (they keep their random initialisation), become copies of the trained
    /// ones, position i taking position i mod <paramref name="trained"/> (Longformer's initialisation when it
    /// extended RoBERTa's table, Beltagy et al. 2020). Attention heads that learnt to use relative position then work
    /// at once at the longer lengths, and training goes on from there. Returns the number of rows replaced.
    /// </summary>
    public int CopyPositionEmbeddings(int trained)
    {
        int max = Config.MaxPositionEmbeddings, h = Config.HiddenSize;
        if (trained < 1 || trained > max)
            throw new ArgumentException($"the trained length must be between 1 and the model's max_position_embeddings ({max}), got {trained}");
        const string name = "bert.embeddings.position_embeddings.weight";
        var table = Read(name);
        for (int i = trained; i < max; i++)
            table.AsSpan(i % trained * h, h).CopyTo(table.AsSpan(i * h, h));
        Write(name, table);
        return max - trained;
    }

    /// <summary>BERT's initialisation: weights from a normal(0, initializer_range) truncated at two standard
    /// deviations (as TF's truncated_normal), LayerNorm gamma 1 and beta 0, biases 0. Deterministic for a seed
    /// on every platform and .NET version (our own generator, not System.Random), drawn on the host in
    /// <see cref="BertParameterLayout.Entries"/> order and copied to the device.</summary>
    public void Initialize(ulong seed)
    {
        // Straight into the buffer when it is host memory (no second copy of the model at start-up); else tensor by
        // tensor through one host buffer.
        bool direct = Device.TryGetHostMemory(Values, out var host);
        if (direct) host.Span.Clear();
        else Device.Zero(Values);
        var rng = new SplitMix64(seed);
        float std = Config.InitializerRange;
        float[] buffer = [];
        foreach (var e in Layout.Entries)
        {
            bool gamma = e.Name.EndsWith("LayerNorm.weight", StringComparison.Ordinal);
            if (!gamma && e.Shape.Length != 2) continue; // biases and LayerNorm beta stay 0
            Span<float> v;
            if (direct) v = host.Span.Slice(e.Offset, e.Length);
            else
            {
                if (buffer.Length < e.Length) buffer = new float[e.Length];
                v = buffer.AsSpan(0, e.Length);
            }
            if (gamma) v.Fill(1f);
            else for (int i = 0; i < v.Length; i++) v[i] = (float)(std * rng.NextTruncatedNormal(2.0));
            if (!direct) Device.CopyToDevice<float>(v, Value(e.Name));
        }
        MarkChanged();
    }

    /// <summary>Frees both buffers on the device.</summary>
    public void Dispose()
    {
        Values.Dispose();
        _shared.Gradients?.Dispose();
        _shared.Gradients = null;
        _shared.Tensor?.Dispose();
        _shared.Tensor = null;
    }
}
