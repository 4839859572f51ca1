using BertSharp.Data;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// A <see cref="BertBatch"/> on the model's device: the host batch is copied in once per forward pass (the only
/// host → device traffic of a training step), and the layers read the ids, masks and targets from here.
/// Capacity buffers; the current shape uses their prefix.
/// </summary>
public sealed class DeviceBatch
{
    private readonly Device _d;

    /// <summary>An empty batch on <paramref name="device"/>; <see cref="Allocate"/> before the first <see
    /// cref="Upload"/>.</summary>
    public DeviceBatch(Device device) => _d = device;

    /// <summary>B of the last upload.</summary>
    public int BatchSize { get; private set; }
    /// <summary>T of the last upload.</summary>
    public int SeqLength { get; private set; }
    /// <summary>P of the last upload (0 when its predictions did not travel).</summary>
    public int MaxPredictions { get; private set; }

    /// <summary>[B·T] Int32: token ids.</summary>
    public DeviceTensor InputIds { get; private set; } = null!;          // [B·T] Int32
    /// <summary>[B·T] Int32: segment ids (0 for A, 1 for B).</summary>
    public DeviceTensor TokenTypeIds { get; private set; } = null!;      // [B·T] Int32
    /// <summary>[B·T] Int32: 1 for real tokens, 0 for padding.</summary>
    public DeviceTensor AttentionMask { get; private set; } = null!;     // [B·T] Int32
    /// <summary>[B·P] Int32: positions (within the row) of the masked tokens.</summary>
    public DeviceTensor MaskedLmPositions { get; private set; } = null!; // [B·P] Int32
    /// <summary>[B·P] Int32: the original ids at those positions.</summary>
    public DeviceTensor MaskedLmIds { get; private set; } = null!;       // [B·P] Int32
    /// <summary>[B·P] Float32: 1 for real predictions, 0 for padding entries.</summary>
    public DeviceTensor MaskedLmWeights { get; private set; } = null!;   // [B·P] Float32
    /// <summary>[B] Int32: 0 when segment B follows A, 1 when it is random.</summary>
    public DeviceTensor NextSentenceLabels { get; private set; } = null!; // [B] Int32
    /// <summary>[B] Int32: classification labels (−1: ignored).</summary>
    public DeviceTensor Labels { get; private set; } = null!;            // [B] Int32

    /// <summary>[B, L] Float32: a distillation batch's teacher logits (<see cref="UploadTeacherLogits"/>).</summary>
    public DeviceTensor TeacherLogits { get; private set; } = null!;
    /// <summary>[B] Float32: 1 for a labelled row, 0 for one without a label (the soft-target term's row weights).</summary>
    public DeviceTensor LabelWeights { get; private set; } = null!;
    private float[] _labelWeights = [];                                  // [B] host staging of LabelWeights

    /// <summary>(Re)allocates every buffer for batches up to <paramref name="maxBatch"/> × <paramref name="maxSeq"/>
    /// with <paramref name="maxPredictions"/> per row; previous contents are lost.</summary>
    public void Allocate(int maxBatch, int maxSeq, int maxPredictions)
    {
        int n = maxBatch * maxSeq, m = maxBatch * maxPredictions;
        InputIds = _d.Reallocate(InputIds, DType.Int32, n);
        TokenTypeIds = _d.Reallocate(TokenTypeIds, DType.Int32, n);
        AttentionMask = _d.Reallocate(AttentionMask, DType.Int32, n);
        MaskedLmPositions = _d.Reallocate(MaskedLmPositions, DType.Int32, m);
        MaskedLmIds = _d.Reallocate(MaskedLmIds, DType.Int32, m);
        MaskedLmWeights = _d.Reallocate(MaskedLmWeights, DType.Float32, m);
        NextSentenceLabels = _d.Reallocate(NextSentenceLabels, DType.Int32, maxBatch);
        Labels = _d.Reallocate(Labels, DType.Int32, maxBatch);
    }

    /// <summary>Copies the meaningful prefix of <paramref name="b"/> in (the prediction arrays only when
    /// <paramref name="predictions"/>, the labels only when <paramref name="labels"/>).</summary>
    public void Upload(BertBatch b, bool predictions, bool labels)
    {
        int n = b.BatchSize * b.SeqLength, m = b.BatchSize * b.MaxPredictions;
        (BatchSize, SeqLength, MaxPredictions) = (b.BatchSize, b.SeqLength, predictions ? b.MaxPredictions : 0);
        _d.CopyToDevice<int>(b.InputIds.AsSpan(0, n), InputIds.Prefix(n));
        _d.CopyToDevice<int>(b.TokenTypeIds.AsSpan(0, n), TokenTypeIds.Prefix(n));
        _d.CopyToDevice<int>(b.AttentionMask.AsSpan(0, n), AttentionMask.Prefix(n));
        if (predictions)
        {
            _d.CopyToDevice<int>(b.MaskedLmPositions.AsSpan(0, m), MaskedLmPositions.Prefix(m));
            _d.CopyToDevice<int>(b.MaskedLmIds.AsSpan(0, m), MaskedLmIds.Prefix(m));
            _d.CopyToDevice<float>(b.MaskedLmWeights.AsSpan(0, m), MaskedLmWeights.Prefix(m));
            _d.CopyToDevice<int>(b.NextSentenceLabels.AsSpan(0, b.BatchSize), NextSentenceLabels.Prefix(b.BatchSize));
        }
        if (labels) _d.CopyToDevice<int>(b.Labels.AsSpan(0, b.BatchSize), Labels.Prefix(b.BatchSize));
    }

    /// <summary>Copies <paramref name="b"/>'s teacher logits in, and each row's label weight (buffers grow with the
    /// batch's capacity, once).</summary>
    public void UploadTeacherLogits(BertBatch b)
    {
        int rows = b.BatchSize, l = b.TeacherLogitsPerRow;
        if (_labelWeights.Length < b.BatchCapacity || TeacherLogits.Length < b.BatchCapacity * l)
        {
            TeacherLogits = _d.Reallocate(TeacherLogits, DType.Float32, b.BatchCapacity * l);
            LabelWeights = _d.Reallocate(LabelWeights, DType.Float32, b.BatchCapacity);
            _labelWeights = new float[b.BatchCapacity];
        }
        for (int i = 0; i < rows; i++) _labelWeights[i] = b.Labels[i] == BertForSequenceClassification.IgnoreLabel ? 0f : 1f;
        _d.CopyToDevice<float>(_labelWeights.AsSpan(0, rows), LabelWeights.Prefix(rows));
        _d.CopyToDevice<float>(b.TeacherLogits.AsSpan(0, rows * l), TeacherLogits.Prefix(rows * l));
    }
}
