namespace BertSharp.Tensors;

/// <summary>
/// The compute core: allocates tensors, runs every kernel the model needs on them, and copies explicitly
/// between host and device (a batch in, losses and metrics out, parameters to and from checkpoints). Layers
/// hold <see cref="DeviceTensor"/>s and call only these methods, so one model code runs on any device.
/// <para>Semantics are those of the CPU kernels (<c>Tensors/README.md</c>): forward outputs and activation
/// gradients are overwritten, parameter gradients accumulated (+=); views of one call must not overlap unless a
/// kernel says they may alias. A device may run kernels asynchronously in issue order (one stream): every method
/// that returns a value to the host (<see cref="SumOfSquares"/>, <see cref="CopyToHost{T}"/>) waits for the work
/// before it; <see cref="CopyToDevice{T}"/> may return before the copy lands only if it took its own copy of the
/// source. docs/ARCHITECTURE.md says how a CUDA device implements this surface.</para>
/// <para>Activations may be stored in bfloat16 (<see cref="ActivationType"/>): the operands a kernel's documentation
/// calls activations — x, y, dy, dx, output, doutput, logits, dlogits, the cosine loss's a, b, da — are Float32 or
/// BFloat16, all of one call the same type (the soft-target loss's logits are Float32 only), and every kernel computes in float32 between the load and the (rounded) store. Parameters (bias, gamma,
/// beta, table), their gradients (accumulated in float32: the master weights), saved statistics (mean, rstd, losses,
/// logSumExp), the additive mask and scratch are always Float32. Matrix products take Float32 or BFloat16 operands in
/// any combination (bf16 products, float32 sums).</para>
/// </summary>
public abstract class Device : IDisposable
{
    /// <summary>The CPU device: our AVX-512/AVX2 kernels over pinned host arrays.</summary>
    public static Device Cpu => CpuDevice.Instance;

    /// <summary>"cpu", "cuda:0", ...</summary>
    public abstract string Name { get; }

    /// <summary>How this device computes matrix products (<see cref="Tensors.Precision"/>); every other kernel, the
    /// parameters, gradients and optimiser moments are Float32 in every precision.</summary>
    public virtual Precision Precision => Precision.Fp32;

    /// <summary>The element type a model on this device stores its activations in: BFloat16 in <see
    /// cref="Precision.Bf16"/> (half the memory and bandwidth; every kernel computes in float32 inside), else Float32.</summary>
    public DType ActivationType => Precision == Precision.Bf16 ? DType.BFloat16 : DType.Float32;

    /// <summary>
    /// This device computing its matrix products in <paramref name="precision"/>: a device over the same memory, so
    /// tensors allocated by one are used by the other's kernels (<see cref="SharesMemoryWith"/>) and a model changes
    /// precision without a copy. Throws <see cref="BertSharpException"/> (<see cref="ErrorKind.Usage"/>) naming the
    /// precision when this device cannot compute in it.
    /// </summary>
    public virtual Device WithPrecision(Precision precision) => precision == Precision ? this
        : throw new BertSharpException($"precision {precision.Name()}: the {Name} device computes only in {Precision.Name()}", ErrorKind.Usage);

    /// <summary>Whether this device's kernels use tensors of <paramref name="other"/> as they are (the same memory:
    /// the same device in another <see cref="Precision"/>).</summary>
    public virtual bool SharesMemoryWith(Device other) => ReferenceEquals(this, other);

    // ---- memory ----

    /// <summary>A zero-filled tensor of <paramref name="shape"/> (a scalar: no dimensions).</summary>
    public abstract DeviceTensor Allocate(DType type, params int[] shape);

    /// <summary>Disposes <paramref name="old"/> (if any) and allocates a replacement: how layers grow their buffers.</summary>
    public DeviceTensor Reallocate(DeviceTensor? old, DType type, params int[] shape)
    {
        old?.Dispose();
        return Allocate(type, shape);
    }

    /// <summary>Host → device: <paramref name="source"/> into <paramref name="destination"/> (same length and element type).</summary>
    public abstract void CopyToDevice<T>(ReadOnlySpan<T> source, TensorView destination) where T : unmanaged;

    /// <summary>Device → host: waits for the work that writes <paramref name="source"/>, then copies it.</summary>
    public abstract void CopyToHost<T>(TensorView source, Span<T> destination) where T : unmanaged;

    /// <summary>
    /// The host memory behind a Float32 view when the device's memory is host memory (the CPU device), so that
    /// large transfers (checkpoints) need no extra copy; false on a device with memory of its own (copy instead).
    /// </summary>
    public virtual bool TryGetHostMemory(TensorView view, out Memory<float> memory)
    {
        memory = default;
        return false;
    }

    /// <summary>A Float32 or BFloat16 view copied into a new host float array (bf16 widened exactly): for results read
    /// once, not for a training step.</summary>
    public float[] ToArray(TensorView source)
    {
        var a = new float[source.Length];
        if (source.Type == DType.BFloat16)
        {
            var h = new ushort[source.Length];
            CopyToHost<ushort>(source, h);
            Tensors.BFloat16.ToSingle(h, a);
        }
        else CopyToHost<float>(source, a);
        return a;
    }

    /// <summary>Device → device copy of equal-length views.</summary>
    public abstract void Copy(TensorView source, TensorView destination);

    /// <summary>destination = source converted between Float32 and BFloat16 (equal lengths): Float32 → BFloat16 rounds to
    /// nearest even and keeps NaN a (quiet) NaN; BFloat16 → Float32 is exact. Equal types copy.</summary>
    public abstract void Cast(TensorView source, TensorView destination);

    /// <summary>Sets every element to zero.</summary>
    public abstract void Zero(TensorView x);

    /// <summary>Waits until every kernel issued so far has finished.</summary>
    public abstract void Synchronize();

    /// <summary>Releases what the device itself holds (streams, library handles; nothing on the CPU). Tensors are freed
    /// by their own <see cref="DeviceTensor.Dispose"/>.</summary>
    public virtual void Dispose() { }

    // ---- matrix products ----

    /// <summary>C = alpha·op(A)·op(B) + beta·C, row-major with leading dimensions (Gemm.Sgemm's contract), computed in
    /// the device's <see cref="Precision"/>.</summary>
    public abstract void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, TensorView a, int lda,
        TensorView b, int ldb, float beta, TensorView c, int ldc);

    /// <summary>
    /// outer × inner independent GEMMs where matrix (o, i) of each operand starts at o·strideOuter + i·strideInner.
    /// Attention uses it with outer = batch and inner = heads, so Q, K, V are read straight from the [B, T, 3H]
    /// projection (head h at column h·D) and the context written straight into [B, T, H], without permutes.
    /// </summary>
    public abstract void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        TensorView a, int lda, long strideAOuter, long strideAInner,
        TensorView b, int ldb, long strideBOuter, long strideBInner,
        float beta, TensorView c, int ldc, long strideCOuter, long strideCInner, int outer, int inner);

    // ---- element-wise and row-wise kernels ----

    /// <summary>y[r, c] += bias[c] over rows × cols.</summary>
    public abstract void BiasAdd(TensorView y, int rows, int cols, TensorView bias);
    /// <summary>dbias[c] += Σr dy[r, c].</summary>
    public abstract void BiasBackward(TensorView dy, int rows, int cols, TensorView dbias);
    /// <summary>GELU (erf form, or the tanh approximation); y may alias x.</summary>
    public abstract void Gelu(TensorView x, TensorView y, bool tanhApproximation);
    /// <summary>dx = GELU'(x)·dy; dx may alias dy.</summary>
    public abstract void GeluBackward(TensorView x, TensorView dy, TensorView dx, bool tanhApproximation);
    /// <summary>y = tanh(x) element-wise (the pooler's activation); y may alias x.</summary>
    public abstract void Tanh(TensorView x, TensorView y);
    /// <summary>dx = (1 − y²)·dy from the output y.</summary>
    public abstract void TanhBackward(TensorView y, TensorView dy, TensorView dx);
    /// <summary>y += x.</summary>
    public abstract void Add(TensorView y, TensorView x);

    /// <summary>LayerNorm over the last dimension of x [rows, cols]: y = (x − mean)·rstd·gamma + beta (biased
    /// variance). y [rows, cols] is overwritten; mean and rstd [rows] are saved for <see
    /// cref="LayerNormBackward"/>.</summary>
    public abstract void LayerNormForward(TensorView x, int rows, int cols, TensorView gamma, TensorView beta, float eps,
        TensorView y, TensorView mean, TensorView rstd);
    /// <summary>LayerNorm's backward from the forward's x, mean and rstd: dx [rows, cols] is overwritten; dgamma and
    /// dbeta [cols] are accumulated.</summary>
    public abstract void LayerNormBackward(TensorView dy, TensorView x, TensorView mean, TensorView rstd, TensorView gamma,
        int rows, int cols, TensorView dx, TensorView dgamma, TensorView dbeta);

    /// <summary>y = softmax(scale·x + mask[b, :]) per row; rows grouped batch × rowsPerBatch; mask [batch, cols] additive.</summary>
    public abstract void SoftmaxForward(TensorView x, TensorView y, int batch, int rowsPerBatch, int cols, float scale, TensorView mask);
    /// <summary>dx = scale·y ⊙ (dy − Σ dy⊙y) per row of the forward output y [rows, cols]; dx may alias dy.</summary>
    public abstract void SoftmaxBackward(TensorView y, TensorView dy, TensorView dx, int rows, int cols, float scale);

    /// <summary>Inverted dropout whose mask bit of element i is a pure function of (seed, step, site, offset + i): the
    /// same counter-based generator on every device, so backward recomputes it and devices agree bit for bit.
    /// <paramref name="offset"/> places the view in the global batch (a data-parallel rank's first row × the row's size).</summary>
    public abstract void DropoutForward(TensorView x, TensorView y, float p, ulong seed, ulong step, uint site, long offset = 0);
    /// <summary>dx = dy ⊙ mask / (1 − p), the mask recomputed from the forward's (seed, step, site, offset); dx may
    /// alias dy.</summary>
    public abstract void DropoutBackward(TensorView dy, TensorView dx, float p, ulong seed, ulong step, uint site, long offset = 0);

    /// <summary>output[i, :] (=, or += when accumulating) table[ids[i], :]; ids Int32. The table is a Float32 parameter,
    /// or rows of an activation of the output's type (the pooler's [CLS] rows, the masked positions).</summary>
    public abstract void EmbeddingForward(TensorView ids, TensorView table, int dim, TensorView output, bool accumulate);
    /// <summary>dtable[ids[i], :] += doutput[i, :] (deterministic order); dtable Float32 (a parameter gradient), or of
    /// doutput's type (an activation gradient: each sum rounded once).</summary>
    public abstract void EmbeddingBackward(TensorView ids, TensorView doutput, int dim, TensorView dtable);

    /// <summary>Per row: losses = logsumexp − logit[target] (0 when ignored), logSumExp, argmax (Int32).</summary>
    public abstract void CrossEntropyForward(TensorView logits, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax);
    /// <summary>dlogits [rows, cols] = scale·(softmax(row) − onehot(target)), from the forward's logSumExp; zero rows
    /// where the target is <paramref name="ignoreIndex"/>. Overwritten; may alias logits.</summary>
    public abstract void CrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dlogits);
    /// <summary>Output-layer bias + softmax cross-entropy in one pass: logits += bias (in place), then as CrossEntropyForward.</summary>
    public abstract void BiasCrossEntropyForward(TensorView logits, TensorView bias, int rows, int cols, TensorView targets,
        int ignoreIndex, TensorView losses, TensorView logSumExp, TensorView argmax);
    /// <summary>Its backward in one pass: logits become d(logits) in place; dbias += column sums.
    /// <paramref name="scratch"/> holds <see cref="BiasCrossEntropyScratch"/> floats.</summary>
    public abstract void BiasCrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dbias, TensorView scratch);
    /// <summary>Floats of scratch <see cref="BiasCrossEntropyBackward"/> needs for rows × cols logits (the
    /// bias-gradient partials).</summary>
    public abstract int BiasCrossEntropyScratch(int rows, int cols);

    // ---- distillation losses ----

    /// <summary>The soft-target loss of knowledge distillation: per row r of rows × cols logits (<paramref
    /// name="student"/> s, <paramref name="teacher"/> t, both Float32), with p = softmax(t_r / T) and q = softmax(s_r / T),
    /// losses[r] = weights[r]·T²·KL(p ‖ q) = weights[r]·T²·Σ_c p_c (log p_c − log q_c) (0 where weights[r] == 0, whose
    /// logits are not read; a p_c of exactly 0 contributes 0). losses [rows] Float32, overwritten; weights Float32 [rows].
    /// <paramref name="temperature"/> must be positive and finite.</summary>
    public abstract void SoftTargetForward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        TensorView losses);
    /// <summary>dstudent[r, c] = scale·weights[r]·T·(q_c − p_c): the gradient of scale·losses[r] with respect to s (zero
    /// rows where weights[r] == 0). <paramref name="accumulate"/>: dstudent += instead of =. dstudent must not overlap
    /// student or teacher.</summary>
    public abstract void SoftTargetBackward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        float scale, TensorView dstudent, bool accumulate);

    /// <summary>The cosine loss on hidden states: per row r of rows × cols hidden states <paramref name="a"/> (student) and
    /// <paramref name="b"/> (teacher), activations of one type (Float32 or BFloat16), losses[r] = weights[r]·(1 − cos(a_r,
    /// b_r)), cos = a·b / max(‖a‖‖b‖, 1e-8) (PyTorch's CosineEmbeddingLoss with target 1). losses Float32 [rows],
    /// overwritten (0 where weights[r] == 0: the row is left out); weights Float32 [rows].</summary>
    public abstract void CosineForward(TensorView a, TensorView b, TensorView weights, int rows, int cols, TensorView losses);
    /// <summary>da[r] = scale·d(losses[r])/d(a_r), b a constant (the teacher); zero rows where weights[r] == 0. da of a's
    /// type; <paramref name="accumulate"/>: da += instead of =.</summary>
    public abstract void CosineBackward(TensorView a, TensorView b, TensorView weights, int rows, int cols, float scale, TensorView da,
        bool accumulate);

    // ---- optimiser and reductions ----

    /// <summary>Fused AdamW over one run of the flat buffers (torch.optim.AdamW's order).</summary>
    public abstract void AdamWStep(TensorView param, TensorView grad, TensorView m, TensorView v, in AdamWParams hp);
    /// <summary>Σx² in double, the same bits for any thread count; returns to the host (a synchronisation point).</summary>
    public abstract double SumOfSquares(TensorView x);

    // ---- the model's index and bookkeeping kernels (what would otherwise be host loops) ----

    /// <summary>additive[i] = mask[i] != 0 ? 0 : maskValue (the attention mask from a batch's 0/1 Int32 mask).</summary>
    public abstract void AttentionMask(TensorView mask, TensorView additive, float maskValue);

    /// <summary>output[i] = (i / period)·stride + i mod period (Int32): position ids (period T, stride 0), the [CLS]
    /// row of each sequence (period 1, stride T).</summary>
    public abstract void Iota(TensorView output, int period, int stride);

    /// <summary>For the B·P prediction slots: rows[i] = (i / P)·T + positions[i] (the row of the sequence output to
    /// gather) and targets[i] = weights[i] &gt; 0 ? ids[i] : ignoreIndex.</summary>
    public abstract void MaskedLmTargets(TensorView positions, TensorView ids, TensorView weights, int predictionsPerRow,
        int seqLength, int ignoreIndex, TensorView rows, TensorView targets);

    /// <summary>Over the rows whose target is not <paramref name="ignoreIndex"/>: stats[0] = Σ loss (summed in double),
    /// stats[1] = how many have argmax == target, stats[2] = how many there are (Float32 stats, 3 elements).</summary>
    public abstract void LossStatistics(TensorView losses, TensorView argmax, TensorView targets, int ignoreIndex, TensorView stats);

    // ---- the activation rule every device applies ----

    // Whether a kernel's activation operands are BFloat16 (true) or Float32 (false); they must all be one of the two.
    // Views of a null tensor (an optional operand left out) are skipped. One check for every device, so the CPU and a
    // GPU accept and refuse the same calls.
    internal static bool Bf16Activations(string kernel, params ReadOnlySpan<TensorView> activations)
    {
        DType? type = null;
        foreach (var v in activations)
        {
            if (v.Tensor is null) continue;
            if (v.Type is not (DType.Float32 or DType.BFloat16) || (type is { } t && t != v.Type))
                throw new ArgumentException($"{kernel}: activations must all be Float32 or all BFloat16, got {string.Join(", ", Types(activations))}");
            type = v.Type;
        }
        return type == DType.BFloat16;
    }

    private static List<string> Types(ReadOnlySpan<TensorView> views)
    {
        var list = new List<string>();
        foreach (var v in views) list.Add(v.Tensor is null ? "none" : v.Type.ToString());
        return list;
    }
}
