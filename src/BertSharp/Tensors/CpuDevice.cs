using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

/// <summary>
/// The CPU device: tensors are pinned host arrays and every kernel is the static kernel of this folder
/// (AVX-512/AVX2 with a portable fallback, multi-threaded through <see cref="KernelParallel"/>, bitwise identical
/// for any thread count). Calls run synchronously, so copies and reductions never wait.
/// </summary>
public sealed class CpuDevice : Device
{
    /// <summary>The CPU device in float32 (what <see cref="Device.Cpu"/> returns); kernels run synchronously on <see
    /// cref="KernelParallel"/>'s threads.</summary>
    public static CpuDevice Instance { get; } = new(Precision.Fp32);

    /// <summary>The CPU device computing its matrix products in bfloat16 (<see cref="Gemm.Bf16KernelDescription"/> says how).
    /// On either device, <see cref="Sgemm"/> also takes BFloat16 operands (bf16 products, float32 sums).</summary>
    public static CpuDevice BFloat16 { get; } = new(Precision.Bf16);

    private CpuDevice(Precision precision) => Precision = precision;

    /// <inheritdoc/>
    public override string Name => "cpu";

    /// <inheritdoc/>
    public override Precision Precision { get; }

    /// <summary>The CPU device in <paramref name="precision"/>: fp32 or bf16 (TF32 is a tensor-core format the CPU
    /// does not have).</summary>
    public override Device WithPrecision(Precision precision) => precision switch
    {
        Precision.Fp32 => Instance,
        Precision.Bf16 => BFloat16,
        _ => throw new BertSharpException($"precision {precision.Name()}: the CPU computes in fp32 or bf16 (tf32 is a format of NVIDIA tensor cores)", ErrorKind.Usage),
    };

    /// <inheritdoc/>
    public override bool SharesMemoryWith(Device other) => other is CpuDevice;

    /// <summary>The host memory behind a CPU tensor's Float32 view (the CPU device's memory is host memory; code
    /// that must run on any device copies with <see cref="Device.CopyToHost{T}"/> instead).</summary>
    public static Span<float> Floats(TensorView v) => ((CpuTensor)v.Tensor).Float32("view").AsSpan(v.Offset, v.Length);

    /// <summary>The host memory behind a CPU tensor's Int32 view.</summary>
    public static Span<int> Ints(TensorView v) => ((CpuTensor)v.Tensor).Int32("view").AsSpan(v.Offset, v.Length);

    /// <inheritdoc/>
    public override bool TryGetHostMemory(TensorView view, out Memory<float> memory)
    {
        memory = ((CpuTensor)view.Tensor).Float32("view").AsMemory(view.Offset, view.Length);
        return true;
    }

    private static Span<float> F(TensorView v, string name) => v.Tensor is CpuTensor t
        ? t.Float32(name).AsSpan(v.Offset, v.Length)
        : throw new ArgumentException($"{name}: a tensor of {v.Tensor.Device.Name}, not of the CPU device");

    private static Span<int> I(TensorView v, string name) => v.Tensor is CpuTensor t
        ? t.Int32(name).AsSpan(v.Offset, v.Length)
        : throw new ArgumentException($"{name}: a tensor of {v.Tensor.Device.Name}, not of the CPU device");

    /// <inheritdoc/>
    public override DeviceTensor Allocate(DType type, params int[] shape) => new CpuTensor(this, type, shape);

    /// <inheritdoc/>
    public override void CopyToDevice<T>(ReadOnlySpan<T> source, TensorView destination)
    {
        var dst = Bytes(destination, typeof(T), "destination");
        var src = MemoryMarshal.AsBytes(source);
        if (src.Length != dst.Length)
            throw new ArgumentException($"copy to device: {source.Length} host elements for a view of {destination.Length}");
        src.CopyTo(dst);
    }

    /// <inheritdoc/>
    public override void CopyToHost<T>(TensorView source, Span<T> destination)
    {
        var src = Bytes(source, typeof(T), "source");
        var dst = MemoryMarshal.AsBytes(destination);
        if (src.Length != dst.Length)
            throw new ArgumentException($"copy to host: a view of {source.Length} elements into {destination.Length} host elements");
        src.CopyTo(dst);
    }

    /// <inheritdoc/>
    public override void Copy(TensorView source, TensorView destination)
    {
        if (source.Type != destination.Type || source.Length != destination.Length)
            throw new ArgumentException($"copy: {source} into {destination} (type and length must agree)");
        Bytes(source, null, "source").CopyTo(Bytes(destination, null, "destination"));
    }

    /// <inheritdoc/>
    public override void Cast(TensorView source, TensorView destination)
    {
        if (source.Length != destination.Length)
            throw new ArgumentException($"cast: {source} into {destination} (lengths must agree)");
        switch (source.Type, destination.Type)
        {
            case (DType.Float32, DType.BFloat16):
                Tensors.BFloat16.FromSingle(F(source, "source"), Bf(destination, "destination"));
                break;
            case (DType.BFloat16, DType.Float32):
                Tensors.BFloat16.ToSingle(Bf(source, "source"), F(destination, "destination"));
                break;
            case var (s, d) when s == d:
                Copy(source, destination);
                break;
            default:
                throw new ArgumentException($"cast: {source.Type} to {destination.Type} (Float32 and BFloat16 only)");
        }
    }

    private static Span<ushort> Bf(TensorView v, string name) => MemoryMarshal.Cast<byte, ushort>(Bytes(v, typeof(ushort), name));

    /// <inheritdoc/>
    public override void Zero(TensorView x) => Bytes(x, null, "x").Clear();

    /// <inheritdoc/>
    public override void Synchronize() { }

    private static Span<byte> Bytes(TensorView v, Type? element, string name)
    {
        if (v.Tensor is not CpuTensor t) throw new ArgumentException($"{name}: a tensor of {v.Tensor.Device.Name}, not of the CPU device");
        switch (t.Type)
        {
            case DType.Float32 when element is null || element == typeof(float):
                return MemoryMarshal.AsBytes(t.Float32(name).AsSpan(v.Offset, v.Length));
            case DType.Int32 when element is null || element == typeof(int):
                return MemoryMarshal.AsBytes(t.Int32(name).AsSpan(v.Offset, v.Length));
            case DType.BFloat16 when element is null || element == typeof(ushort):
                return MemoryMarshal.AsBytes(((ushort[])t.Data).AsSpan(v.Offset, v.Length));
            default:
                throw new ArgumentException($"{name}: a {t.Type} tensor does not hold {element?.Name} elements");
        }
    }

    /// <inheritdoc/>
    public override void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, TensorView a, int lda,
        TensorView b, int ldb, float beta, TensorView c, int ldc)
    {
        if (a.Type == DType.BFloat16 || b.Type == DType.BFloat16 || c.Type == DType.BFloat16)
            Bf16Operands(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else if (Precision == Precision.Bf16) Gemm.SgemmBf16(transA, transB, m, n, k, alpha, F(a, "a"), lda, F(b, "b"), ldb, beta, F(c, "c"), ldc);
        else Gemm.Sgemm(transA, transB, m, n, k, alpha, F(a, "a"), lda, F(b, "b"), ldb, beta, F(c, "c"), ldc);
    }

    // Operands stored in bfloat16 (in any precision: they are bf16 already): bf16 products, float32 sums; a bf16 C is
    // the float32 result rounded once. Float32 operands beside them are rounded to bf16 while packing.
    private static void Bf16Operands(bool transA, bool transB, int m, int n, int k, float alpha, TensorView a, int lda,
        TensorView b, int ldb, float beta, TensorView c, int ldc)
    {
        bool ha = a.Type == DType.BFloat16, hb = b.Type == DType.BFloat16, hc = c.Type == DType.BFloat16;
        switch (ha, hb, hc)
        {
            case (false, false, true): Gemm.SgemmBf16(transA, transB, m, n, k, alpha, F(a, "a"), lda, F(b, "b"), ldb, beta, Bf(c, "c"), ldc); break;
            case (false, true, false): Gemm.SgemmBf16(transA, transB, m, n, k, alpha, F(a, "a"), lda, Bf(b, "b"), ldb, beta, F(c, "c"), ldc); break;
            case (false, true, true): Gemm.SgemmBf16(transA, transB, m, n, k, alpha, F(a, "a"), lda, Bf(b, "b"), ldb, beta, Bf(c, "c"), ldc); break;
            case (true, false, false): Gemm.SgemmBf16(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, F(b, "b"), ldb, beta, F(c, "c"), ldc); break;
            case (true, false, true): Gemm.SgemmBf16(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, F(b, "b"), ldb, beta, Bf(c, "c"), ldc); break;
            case (true, true, false): Gemm.SgemmBf16(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, Bf(b, "b"), ldb, beta, F(c, "c"), ldc); break;
            default: Gemm.SgemmBf16(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, Bf(b, "b"), ldb, beta, Bf(c, "c"), ldc); break;
        }
    }

    /// <inheritdoc/>
    public override unsafe void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        TensorView a, int lda, long strideAOuter, long strideAInner,
        TensorView b, int ldb, long strideBOuter, long strideBInner,
        float beta, TensorView c, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
    {
        if (a.Type == DType.BFloat16 || b.Type == DType.BFloat16 || c.Type == DType.BFloat16)
            Bf16Operands(transA, transB, m, n, k, alpha, a, lda, strideAOuter, strideAInner, b, ldb, strideBOuter, strideBInner,
                beta, c, ldc, strideCOuter, strideCInner, outer, inner);
        else if (Precision == Precision.Bf16)
            Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, F(a, "a"), lda, strideAOuter, strideAInner,
                F(b, "b"), ldb, strideBOuter, strideBInner, beta, F(c, "c"), ldc, strideCOuter, strideCInner, outer, inner);
        else
            Gemm.SgemmBatched2D(transA, transB, m, n, k, alpha, F(a, "a"), lda, strideAOuter, strideAInner,
                F(b, "b"), ldb, strideBOuter, strideBInner, beta, F(c, "c"), ldc, strideCOuter, strideCInner, outer, inner);
    }

    // The batched twin of Sgemm's Bf16Operands: bf16 operands (attention's Q, K, V, probabilities and context in bf16
    // activations) in any precision, bf16 products, float32 sums, a bf16 C rounded once.
    private static void Bf16Operands(bool transA, bool transB, int m, int n, int k, float alpha,
        TensorView a, int lda, long sAo, long sAi, TensorView b, int ldb, long sBo, long sBi,
        float beta, TensorView c, int ldc, long sCo, long sCi, int outer, int inner)
    {
        bool ha = a.Type == DType.BFloat16, hb = b.Type == DType.BFloat16, hc = c.Type == DType.BFloat16;
        switch (ha, hb, hc)
        {
            case (false, false, true):
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, F(a, "a"), lda, sAo, sAi, F(b, "b"), ldb, sBo, sBi, beta, Bf(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
            case (false, true, false):
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, F(a, "a"), lda, sAo, sAi, Bf(b, "b"), ldb, sBo, sBi, beta, F(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
            case (false, true, true):
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, F(a, "a"), lda, sAo, sAi, Bf(b, "b"), ldb, sBo, sBi, beta, Bf(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
            case (true, false, false):
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, sAo, sAi, F(b, "b"), ldb, sBo, sBi, beta, F(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
            case (true, false, true):
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, sAo, sAi, F(b, "b"), ldb, sBo, sBi, beta, Bf(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
            case (true, true, false):
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, sAo, sAi, Bf(b, "b"), ldb, sBo, sBi, beta, F(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
            default:
                Gemm.SgemmBf16Batched2D(transA, transB, m, n, k, alpha, Bf(a, "a"), lda, sAo, sAi, Bf(b, "b"), ldb, sBo, sBi, beta, Bf(c, "c"), ldc, sCo, sCi, outer, inner);
                break;
        }
    }

    /// <inheritdoc/>
    public override void BiasAdd(TensorView y, int rows, int cols, TensorView bias)
    {
        if (Bf16Activations("bias add", y)) Tensors.Bias.Add<ushort>(Bf(y, "y"), rows, cols, F(bias, "bias"));
        else Tensors.Bias.Add(F(y, "y"), rows, cols, F(bias, "bias"));
    }

    /// <inheritdoc/>
    public override void BiasBackward(TensorView dy, int rows, int cols, TensorView dbias)
    {
        if (Bf16Activations("bias backward", dy)) Tensors.Bias.Backward<ushort>(Bf(dy, "dy"), rows, cols, F(dbias, "dbias"));
        else Tensors.Bias.Backward(F(dy, "dy"), rows, cols, F(dbias, "dbias"));
    }

    /// <inheritdoc/>
    public override void Gelu(TensorView x, TensorView y, bool tanhApproximation)
    {
        if (Bf16Activations("gelu", x, y))
        {
            if (tanhApproximation) Activations.GeluTanh<ushort>(Bf(x, "x"), Bf(y, "y"));
            else Activations.Gelu<ushort>(Bf(x, "x"), Bf(y, "y"));
        }
        else if (tanhApproximation) Activations.GeluTanh(F(x, "x"), F(y, "y"));
        else Activations.Gelu(F(x, "x"), F(y, "y"));
    }

    /// <inheritdoc/>
    public override void GeluBackward(TensorView x, TensorView dy, TensorView dx, bool tanhApproximation)
    {
        if (Bf16Activations("gelu backward", x, dy, dx))
        {
            if (tanhApproximation) Activations.GeluTanhBackward<ushort>(Bf(x, "x"), Bf(dy, "dy"), Bf(dx, "dx"));
            else Activations.GeluBackward<ushort>(Bf(x, "x"), Bf(dy, "dy"), Bf(dx, "dx"));
        }
        else if (tanhApproximation) Activations.GeluTanhBackward(F(x, "x"), F(dy, "dy"), F(dx, "dx"));
        else Activations.GeluBackward(F(x, "x"), F(dy, "dy"), F(dx, "dx"));
    }

    /// <inheritdoc/>
    public override void Tanh(TensorView x, TensorView y)
    {
        if (Bf16Activations("tanh", x, y)) Activations.Tanh<ushort>(Bf(x, "x"), Bf(y, "y"));
        else Activations.Tanh(F(x, "x"), F(y, "y"));
    }

    /// <inheritdoc/>
    public override void TanhBackward(TensorView y, TensorView dy, TensorView dx)
    {
        if (Bf16Activations("tanh backward", y, dy, dx)) Activations.TanhBackward<ushort>(Bf(y, "y"), Bf(dy, "dy"), Bf(dx, "dx"));
        else Activations.TanhBackward(F(y, "y"), F(dy, "dy"), F(dx, "dx"));
    }

    /// <inheritdoc/>
    public override void Add(TensorView y, TensorView x)
    {
        if (Bf16Activations("add", y, x)) Elementwise.Add<ushort>(Bf(y, "y"), Bf(x, "x"));
        else Elementwise.Add(F(y, "y"), F(x, "x"));
    }

    /// <inheritdoc/>
    public override void LayerNormForward(TensorView x, int rows, int cols, TensorView gamma, TensorView beta, float eps,
        TensorView y, TensorView mean, TensorView rstd)
    {
        if (Bf16Activations("layer norm", x, y))
            LayerNorm.Forward<ushort>(Bf(x, "x"), rows, cols, F(gamma, "gamma"), F(beta, "beta"), eps, Bf(y, "y"), F(mean, "mean"), F(rstd, "rstd"));
        else LayerNorm.Forward(F(x, "x"), rows, cols, F(gamma, "gamma"), F(beta, "beta"), eps, F(y, "y"), F(mean, "mean"), F(rstd, "rstd"));
    }

    /// <inheritdoc/>
    public override void LayerNormBackward(TensorView dy, TensorView x, TensorView mean, TensorView rstd, TensorView gamma,
        int rows, int cols, TensorView dx, TensorView dgamma, TensorView dbeta)
    {
        if (Bf16Activations("layer norm backward", dy, x, dx))
            LayerNorm.Backward<ushort>(Bf(dy, "dy"), Bf(x, "x"), F(mean, "mean"), F(rstd, "rstd"), F(gamma, "gamma"), rows, cols,
                Bf(dx, "dx"), F(dgamma, "dgamma"), F(dbeta, "dbeta"));
        else LayerNorm.Backward(F(dy, "dy"), F(x, "x"), F(mean, "mean"), F(rstd, "rstd"), F(gamma, "gamma"), rows, cols,
            F(dx, "dx"), F(dgamma, "dgamma"), F(dbeta, "dbeta"));
    }

    /// <inheritdoc/>
    public override void SoftmaxForward(TensorView x, TensorView y, int batch, int rowsPerBatch, int cols, float scale, TensorView mask)
    {
        var m = mask.Tensor is null ? default : F(mask, "mask");
        if (Bf16Activations("softmax", x, y)) Softmax.Forward<ushort>(Bf(x, "x"), Bf(y, "y"), batch, rowsPerBatch, cols, scale, m);
        else Softmax.Forward(F(x, "x"), F(y, "y"), batch, rowsPerBatch, cols, scale, m);
    }

    /// <inheritdoc/>
    public override void SoftmaxBackward(TensorView y, TensorView dy, TensorView dx, int rows, int cols, float scale)
    {
        if (Bf16Activations("softmax backward", y, dy, dx)) Softmax.Backward<ushort>(Bf(y, "y"), Bf(dy, "dy"), Bf(dx, "dx"), rows, cols, scale);
        else Softmax.Backward(F(y, "y"), F(dy, "dy"), F(dx, "dx"), rows, cols, scale);
    }

    /// <inheritdoc/>
    public override void DropoutForward(TensorView x, TensorView y, float p, ulong seed, ulong step, uint site, long offset = 0)
    {
        if (Bf16Activations("dropout", x, y)) Dropout.Forward<ushort>(Bf(x, "x"), Bf(y, "y"), p, seed, step, site, offset);
        else Dropout.Forward(F(x, "x"), F(y, "y"), p, seed, step, site, offset);
    }

    /// <inheritdoc/>
    public override void DropoutBackward(TensorView dy, TensorView dx, float p, ulong seed, ulong step, uint site, long offset = 0)
    {
        if (Bf16Activations("dropout backward", dy, dx)) Dropout.Backward<ushort>(Bf(dy, "dy"), Bf(dx, "dx"), p, seed, step, site, offset);
        else Dropout.Backward(F(dy, "dy"), F(dx, "dx"), p, seed, step, site, offset);
    }

    /// <inheritdoc/>
    public override void EmbeddingForward(TensorView ids, TensorView table, int dim, TensorView output, bool accumulate)
    {
        bool bf = Bf16Activations("embedding", output);
        if (table.Type == output.Type) // rows of an activation (or a Float32 table into Float32)
        {
            if (bf) Embedding.Gather<ushort>(I(ids, "ids"), Bf(table, "table"), dim, Bf(output, "output"), accumulate);
            else Embedding.Forward(I(ids, "ids"), F(table, "table"), dim, F(output, "output"), accumulate);
        }
        else Embedding.Forward<ushort>(I(ids, "ids"), F(table, "table"), dim, Bf(output, "output"), accumulate);
    }

    /// <inheritdoc/>
    public override void EmbeddingBackward(TensorView ids, TensorView doutput, int dim, TensorView dtable)
    {
        bool bf = Bf16Activations("embedding backward", doutput);
        if (bf && dtable.Type == DType.BFloat16) Embedding.ScatterAdd<ushort>(I(ids, "ids"), Bf(doutput, "doutput"), dim, Bf(dtable, "dtable"));
        else if (bf) Embedding.Backward<ushort>(I(ids, "ids"), Bf(doutput, "doutput"), dim, F(dtable, "dtable"));
        else Embedding.Backward(I(ids, "ids"), F(doutput, "doutput"), dim, F(dtable, "dtable"));
    }

    /// <inheritdoc/>
    public override void CrossEntropyForward(TensorView logits, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax)
    {
        if (Bf16Activations("cross-entropy", logits))
            CrossEntropy.Forward<ushort>(Bf(logits, "logits"), rows, cols, I(targets, "targets"), ignoreIndex, F(losses, "losses"),
                F(logSumExp, "logSumExp"), I(argmax, "argmax"));
        else CrossEntropy.Forward(F(logits, "logits"), rows, cols, I(targets, "targets"), ignoreIndex, F(losses, "losses"),
            F(logSumExp, "logSumExp"), I(argmax, "argmax"));
    }

    /// <inheritdoc/>
    public override void CrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dlogits)
    {
        if (Bf16Activations("cross-entropy backward", logits, dlogits))
            CrossEntropy.Backward<ushort>(Bf(logits, "logits"), F(logSumExp, "logSumExp"), I(targets, "targets"), ignoreIndex, rows, cols,
                scale, Bf(dlogits, "dlogits"));
        else CrossEntropy.Backward(F(logits, "logits"), F(logSumExp, "logSumExp"), I(targets, "targets"), ignoreIndex, rows, cols, scale,
            F(dlogits, "dlogits"));
    }

    /// <inheritdoc/>
    public override void BiasCrossEntropyForward(TensorView logits, TensorView bias, int rows, int cols, TensorView targets,
        int ignoreIndex, TensorView losses, TensorView logSumExp, TensorView argmax)
    {
        if (Bf16Activations("bias cross-entropy", logits))
            LogitsCrossEntropy.Forward<ushort>(Bf(logits, "logits"), F(bias, "bias"), rows, cols, I(targets, "targets"), ignoreIndex,
                F(losses, "losses"), F(logSumExp, "logSumExp"), I(argmax, "argmax"));
        else LogitsCrossEntropy.Forward(F(logits, "logits"), F(bias, "bias"), rows, cols, I(targets, "targets"), ignoreIndex,
            F(losses, "losses"), F(logSumExp, "logSumExp"), I(argmax, "argmax"));
    }

    /// <inheritdoc/>
    public override void BiasCrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dbias, TensorView scratch)
    {
        if (Bf16Activations("bias cross-entropy backward", logits))
            LogitsCrossEntropy.Backward<ushort>(Bf(logits, "logits"), F(logSumExp, "logSumExp"), I(targets, "targets"), ignoreIndex, rows, cols,
                scale, F(dbias, "dbias"), F(scratch, "scratch"));
        else LogitsCrossEntropy.Backward(F(logits, "logits"), F(logSumExp, "logSumExp"), I(targets, "targets"), ignoreIndex, rows, cols,
            scale, F(dbias, "dbias"), F(scratch, "scratch"));
    }

    /// <inheritdoc/>
    public override int BiasCrossEntropyScratch(int rows, int cols) => checked((int)LogitsCrossEntropy.PartialsLength(rows, cols));

    /// <inheritdoc/>
    public override void SoftTargetForward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        TensorView losses)
        => SoftTargetLoss.Forward(F(student, "student"), F(teacher, "teacher"), F(weights, "weights"), rows, cols, temperature, F(losses, "losses"));

    /// <inheritdoc/>
    public override void SoftTargetBackward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        float scale, TensorView dstudent, bool accumulate)
        => SoftTargetLoss.Backward(F(student, "student"), F(teacher, "teacher"), F(weights, "weights"), rows, cols, temperature, scale,
            F(dstudent, "dstudent"), accumulate);

    /// <inheritdoc/>
    public override void CosineForward(TensorView a, TensorView b, TensorView weights, int rows, int cols, TensorView losses)
    {
        if (Bf16Activations("cosine loss", a, b))
            CosineLoss.Forward<ushort>(Bf(a, "a"), Bf(b, "b"), F(weights, "weights"), rows, cols, F(losses, "losses"));
        else CosineLoss.Forward(F(a, "a"), F(b, "b"), F(weights, "weights"), rows, cols, F(losses, "losses"));
    }

    /// <inheritdoc/>
    public override void CosineBackward(TensorView a, TensorView b, TensorView weights, int rows, int cols, float scale, TensorView da,
        bool accumulate)
    {
        if (Bf16Activations("cosine loss backward", a, b, da))
            CosineLoss.Backward<ushort>(Bf(a, "a"), Bf(b, "b"), F(weights, "weights"), rows, cols, scale, Bf(da, "da"), accumulate);
        else CosineLoss.Backward(F(a, "a"), F(b, "b"), F(weights, "weights"), rows, cols, scale, F(da, "da"), accumulate);
    }

    /// <inheritdoc/>
    public override void AdamWStep(TensorView param, TensorView grad, TensorView m, TensorView v, in AdamWParams hp)
        => AdamW.Step(F(param, "param"), F(grad, "grad"), F(m, "m"), F(v, "v"), hp);

    /// <inheritdoc/>
    public override double SumOfSquares(TensorView x) => Reduce.SumOfSquares(F(x, "x"));

    /// <inheritdoc/>
    public override void AttentionMask(TensorView mask, TensorView additive, float maskValue)
    {
        var m = I(mask, "mask");
        var a = F(additive, "additive");
        Check.SameLength(a.Length, m.Length, nameof(additive), nameof(mask));
        for (int i = 0; i < m.Length; i++) a[i] = m[i] != 0 ? 0f : maskValue;
    }

    /// <inheritdoc/>
    public override void Iota(TensorView output, int period, int stride)
    {
        if (period < 1) throw new ArgumentOutOfRangeException(nameof(period), period, "period must be >= 1");
        var o = I(output, "output");
        for (int i = 0; i < o.Length; i++) o[i] = i / period * stride + i % period;
    }

    /// <inheritdoc/>
    public override void MaskedLmTargets(TensorView positions, TensorView ids, TensorView weights, int predictionsPerRow,
        int seqLength, int ignoreIndex, TensorView rows, TensorView targets)
    {
        var pos = I(positions, "positions");
        var id = I(ids, "ids");
        var w = F(weights, "weights");
        var r = I(rows, "rows");
        var t = I(targets, "targets");
        int m = pos.Length;
        Check.SameLength(id.Length, m, nameof(ids), nameof(positions));
        Check.SameLength(w.Length, m, nameof(weights), nameof(positions));
        Check.SameLength(r.Length, m, nameof(rows), nameof(positions));
        Check.SameLength(t.Length, m, nameof(targets), nameof(positions));
        for (int i = 0; i < m; i++)
        {
            r[i] = i / predictionsPerRow * seqLength + pos[i];
            t[i] = w[i] > 0 ? id[i] : ignoreIndex;
        }
    }

    /// <inheritdoc/>
    public override void LossStatistics(TensorView losses, TensorView argmax, TensorView targets, int ignoreIndex, TensorView stats)
    {
        var l = F(losses, "losses");
        var a = I(argmax, "argmax");
        var t = I(targets, "targets");
        var s = F(stats, "stats");
        Check.SameLength(a.Length, l.Length, nameof(argmax), nameof(losses));
        Check.SameLength(t.Length, l.Length, nameof(targets), nameof(losses));
        Check.Count(s.Length, 3, nameof(stats), "floats");
        double sum = 0;
        int correct = 0, count = 0;
        for (int i = 0; i < l.Length; i++)
        {
            if (t[i] == ignoreIndex) continue;
            sum += l[i];
            count++;
            if (a[i] == t[i]) correct++;
        }
        (s[0], s[1], s[2]) = ((float)sum, correct, count);
    }

    private sealed class CpuTensor : DeviceTensor
    {
        public readonly Array Data;

        public CpuTensor(CpuDevice device, DType type, int[] shape) : base(device, type, shape)
        {
            // Pinned: the kernels take raw pointers and the arrays live as long as the model.
            Data = type switch
            {
                DType.Float32 => GC.AllocateArray<float>(Length, pinned: true),
                DType.Int32 => GC.AllocateArray<int>(Length, pinned: true),
                DType.BFloat16 => GC.AllocateArray<ushort>(Length, pinned: true),
                _ => throw new ArgumentException($"tensor: unknown element type {type}"),
            };
        }

        public float[] Float32(string name) => Data as float[] ?? throw new ArgumentException($"{name}: a {Type} tensor where Float32 is needed");
        public int[] Int32(string name) => Data as int[] ?? throw new ArgumentException($"{name}: a {Type} tensor where Int32 is needed");

        public override void Dispose() { }
    }
}
