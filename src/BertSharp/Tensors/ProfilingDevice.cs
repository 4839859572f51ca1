using System.Diagnostics;

namespace BertSharp.Tensors;

/// <summary>
/// A <see cref="Device"/> that forwards every call to another device and records how long each took in a <see
/// cref="DeviceProfile"/>: the profiler as a decorator of the compute core, so no layer carries a timing line. A model
/// is profiled by giving it this device (<c>parameters.To(new ProfilingDevice(device))</c>: the same memory, so the
/// same parameters); unprofiled code uses the plain device and pays nothing.
/// <para>Each timed call is bracketed by the inner device's <see cref="Device.Synchronize"/>, so its time is its own
/// work and not the queue before it. On the CPU every call is synchronous and that costs nothing (the overhead is two
/// timestamps and a list entry per call). On an asynchronous device (CUDA) it stops the host from running ahead of the
/// device: a profiled step is slower than a plain one and its calls' times add up to more (each includes its launch
/// latency), so compare the parts with each other, not a profiled step's total with an unprofiled one.</para>
/// <para>Results are those of the inner device, bit for bit: the decorator changes no argument and no order.</para>
/// </summary>
public sealed class ProfilingDevice : Device
{
    private readonly Device _inner;

    /// <summary>Profiles <paramref name="inner"/> into <paramref name="profile"/> (a new one when null).</summary>
    public ProfilingDevice(Device inner, DeviceProfile? profile = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        Profile = profile ?? new DeviceProfile();
    }

    /// <summary>The device every call is forwarded to.</summary>
    public Device Inner => _inner;

    /// <summary>Where the calls are recorded.</summary>
    public DeviceProfile Profile { get; }

    private long Start()
    {
        _inner.Synchronize(); // what was issued before is not this call's time
        return Stopwatch.GetTimestamp();
    }

    private void Stop(string kernel, long start, params ReadOnlySpan<TensorView> operands)
    {
        _inner.Synchronize(); // an asynchronous device has finished this call
        Profile.Record(kernel, Stopwatch.GetTimestamp() - start, operands);
    }

    // ---- what the device is (forwarded, not timed) ----

    /// <inheritdoc/>
    public override string Name => _inner.Name;

    /// <inheritdoc/>
    public override Precision Precision => _inner.Precision;

    /// <summary>The inner device in <paramref name="precision"/>, profiled into the same <see cref="Profile"/>.</summary>
    public override Device WithPrecision(Precision precision) =>
        precision == Precision ? this : new ProfilingDevice(_inner.WithPrecision(precision), Profile);

    /// <inheritdoc/>
    public override bool SharesMemoryWith(Device other) =>
        _inner.SharesMemoryWith(other is ProfilingDevice p ? p._inner : other);

    /// <inheritdoc/>
    public override bool TryGetHostMemory(TensorView view, out Memory<float> memory) => _inner.TryGetHostMemory(view, out memory);

    /// <inheritdoc/>
    public override int BiasCrossEntropyScratch(int rows, int cols) => _inner.BiasCrossEntropyScratch(rows, cols);

    /// <inheritdoc/>
    public override void Synchronize() => _inner.Synchronize();

    /// <summary>Does not dispose the inner device: the profiler borrows it, whoever opened it disposes it.</summary>
    public override void Dispose() { }

    // ---- memory and copies (timed) ----

    /// <inheritdoc/>
    public override DeviceTensor Allocate(DType type, params int[] shape)
    {
        long t = Start();
        var tensor = _inner.Allocate(type, shape);
        Stop(nameof(Allocate), t);
        return tensor;
    }

    /// <inheritdoc/>
    public override void CopyToDevice<T>(ReadOnlySpan<T> source, TensorView destination)
    {
        long t = Start();
        _inner.CopyToDevice(source, destination);
        Stop(nameof(CopyToDevice), t, destination);
    }

    /// <inheritdoc/>
    public override void CopyToHost<T>(TensorView source, Span<T> destination)
    {
        long t = Start();
        _inner.CopyToHost(source, destination);
        Stop(nameof(CopyToHost), t, source);
    }

    /// <inheritdoc/>
    public override void Copy(TensorView source, TensorView destination)
    {
        long t = Start();
        _inner.Copy(source, destination);
        Stop(nameof(Copy), t, source, destination);
    }

    /// <inheritdoc/>
    public override void Cast(TensorView source, TensorView destination)
    {
        long t = Start();
        _inner.Cast(source, destination);
        Stop(nameof(Cast), t, source, destination);
    }

    /// <inheritdoc/>
    public override void Zero(TensorView x)
    {
        long t = Start();
        _inner.Zero(x);
        Stop(nameof(Zero), t, x);
    }

    // ---- matrix products ----

    /// <inheritdoc/>
    public override void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, TensorView a, int lda,
        TensorView b, int ldb, float beta, TensorView c, int ldc)
    {
        long t = Start();
        _inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        Stop(nameof(Sgemm), t, a, b, c);
    }

    /// <inheritdoc/>
    public override void SgemmBatched2D(bool transA, bool transB, int m, int n, int k, float alpha,
        TensorView a, int lda, long strideAOuter, long strideAInner,
        TensorView b, int ldb, long strideBOuter, long strideBInner,
        float beta, TensorView c, int ldc, long strideCOuter, long strideCInner, int outer, int inner)
    {
        long t = Start();
        _inner.SgemmBatched2D(transA, transB, m, n, k, alpha, a, lda, strideAOuter, strideAInner, b, ldb, strideBOuter, strideBInner,
            beta, c, ldc, strideCOuter, strideCInner, outer, inner);
        Stop(nameof(SgemmBatched2D), t, a, b, c);
    }

    // ---- element-wise and row-wise kernels ----

    /// <inheritdoc/>
    public override void BiasAdd(TensorView y, int rows, int cols, TensorView bias)
    {
        long t = Start();
        _inner.BiasAdd(y, rows, cols, bias);
        Stop(nameof(BiasAdd), t, bias, y);
    }

    /// <inheritdoc/>
    public override void BiasBackward(TensorView dy, int rows, int cols, TensorView dbias)
    {
        long t = Start();
        _inner.BiasBackward(dy, rows, cols, dbias);
        Stop(nameof(BiasBackward), t, dbias, dy);
    }

    /// <inheritdoc/>
    public override void Gelu(TensorView x, TensorView y, bool tanhApproximation)
    {
        long t = Start();
        _inner.Gelu(x, y, tanhApproximation);
        Stop(nameof(Gelu), t, x, y);
    }

    /// <inheritdoc/>
    public override void GeluBackward(TensorView x, TensorView dy, TensorView dx, bool tanhApproximation)
    {
        long t = Start();
        _inner.GeluBackward(x, dy, dx, tanhApproximation);
        Stop(nameof(GeluBackward), t, x, dy, dx);
    }

    /// <inheritdoc/>
    public override void Tanh(TensorView x, TensorView y)
    {
        long t = Start();
        _inner.Tanh(x, y);
        Stop(nameof(Tanh), t, x, y);
    }

    /// <inheritdoc/>
    public override void TanhBackward(TensorView y, TensorView dy, TensorView dx)
    {
        long t = Start();
        _inner.TanhBackward(y, dy, dx);
        Stop(nameof(TanhBackward), t, y, dy, dx);
    }

    /// <inheritdoc/>
    public override void Add(TensorView y, TensorView x)
    {
        long t = Start();
        _inner.Add(y, x);
        Stop(nameof(Add), t, y, x);
    }

    /// <inheritdoc/>
    public override void LayerNormForward(TensorView x, int rows, int cols, TensorView gamma, TensorView beta, float eps,
        TensorView y, TensorView mean, TensorView rstd)
    {
        long t = Start();
        _inner.LayerNormForward(x, rows, cols, gamma, beta, eps, y, mean, rstd);
        Stop(nameof(LayerNormForward), t, gamma, beta, x, y, mean, rstd);
    }

    /// <inheritdoc/>
    public override void LayerNormBackward(TensorView dy, TensorView x, TensorView mean, TensorView rstd, TensorView gamma,
        int rows, int cols, TensorView dx, TensorView dgamma, TensorView dbeta)
    {
        long t = Start();
        _inner.LayerNormBackward(dy, x, mean, rstd, gamma, rows, cols, dx, dgamma, dbeta);
        Stop(nameof(LayerNormBackward), t, gamma, dgamma, dbeta, dy, x, mean, rstd, dx);
    }

    /// <inheritdoc/>
    public override void SoftmaxForward(TensorView x, TensorView y, int batch, int rowsPerBatch, int cols, float scale, TensorView mask)
    {
        long t = Start();
        _inner.SoftmaxForward(x, y, batch, rowsPerBatch, cols, scale, mask);
        Stop(nameof(SoftmaxForward), t, x, y, mask);
    }

    /// <inheritdoc/>
    public override void SoftmaxBackward(TensorView y, TensorView dy, TensorView dx, int rows, int cols, float scale)
    {
        long t = Start();
        _inner.SoftmaxBackward(y, dy, dx, rows, cols, scale);
        Stop(nameof(SoftmaxBackward), t, y, dy, dx);
    }

    /// <inheritdoc/>
    public override void DropoutForward(TensorView x, TensorView y, float p, ulong seed, ulong step, uint site, long offset = 0)
    {
        long t = Start();
        _inner.DropoutForward(x, y, p, seed, step, site, offset);
        Stop(nameof(DropoutForward), t, x, y);
    }

    /// <inheritdoc/>
    public override void DropoutBackward(TensorView dy, TensorView dx, float p, ulong seed, ulong step, uint site, long offset = 0)
    {
        long t = Start();
        _inner.DropoutBackward(dy, dx, p, seed, step, site, offset);
        Stop(nameof(DropoutBackward), t, dy, dx);
    }

    /// <inheritdoc/>
    public override void EmbeddingForward(TensorView ids, TensorView table, int dim, TensorView output, bool accumulate)
    {
        long t = Start();
        _inner.EmbeddingForward(ids, table, dim, output, accumulate);
        Stop(nameof(EmbeddingForward), t, table, ids, output);
    }

    /// <inheritdoc/>
    public override void EmbeddingBackward(TensorView ids, TensorView doutput, int dim, TensorView dtable)
    {
        long t = Start();
        _inner.EmbeddingBackward(ids, doutput, dim, dtable);
        Stop(nameof(EmbeddingBackward), t, dtable, ids, doutput);
    }

    /// <inheritdoc/>
    public override void CrossEntropyForward(TensorView logits, int rows, int cols, TensorView targets, int ignoreIndex,
        TensorView losses, TensorView logSumExp, TensorView argmax)
    {
        long t = Start();
        _inner.CrossEntropyForward(logits, rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);
        Stop(nameof(CrossEntropyForward), t, logits, targets, losses, logSumExp, argmax);
    }

    /// <inheritdoc/>
    public override void CrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dlogits)
    {
        long t = Start();
        _inner.CrossEntropyBackward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, dlogits);
        Stop(nameof(CrossEntropyBackward), t, logits, logSumExp, targets, dlogits);
    }

    /// <inheritdoc/>
    public override void BiasCrossEntropyForward(TensorView logits, TensorView bias, int rows, int cols, TensorView targets,
        int ignoreIndex, TensorView losses, TensorView logSumExp, TensorView argmax)
    {
        long t = Start();
        _inner.BiasCrossEntropyForward(logits, bias, rows, cols, targets, ignoreIndex, losses, logSumExp, argmax);
        Stop(nameof(BiasCrossEntropyForward), t, bias, logits, targets, losses, logSumExp, argmax);
    }

    /// <inheritdoc/>
    public override void BiasCrossEntropyBackward(TensorView logits, TensorView logSumExp, TensorView targets, int ignoreIndex,
        int rows, int cols, float scale, TensorView dbias, TensorView scratch)
    {
        long t = Start();
        _inner.BiasCrossEntropyBackward(logits, logSumExp, targets, ignoreIndex, rows, cols, scale, dbias, scratch);
        Stop(nameof(BiasCrossEntropyBackward), t, dbias, logits, logSumExp, targets, scratch);
    }

    // ---- distillation losses ----

    /// <inheritdoc/>
    public override void SoftTargetForward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        TensorView losses)
    {
        long t = Start();
        _inner.SoftTargetForward(student, teacher, weights, rows, cols, temperature, losses);
        Stop(nameof(SoftTargetForward), t, student, teacher, weights, losses);
    }

    /// <inheritdoc/>
    public override void SoftTargetBackward(TensorView student, TensorView teacher, TensorView weights, int rows, int cols, float temperature,
        float scale, TensorView dstudent, bool accumulate)
    {
        long t = Start();
        _inner.SoftTargetBackward(student, teacher, weights, rows, cols, temperature, scale, dstudent, accumulate);
        Stop(nameof(SoftTargetBackward), t, student, teacher, weights, dstudent);
    }

    /// <inheritdoc/>
    public override void CosineForward(TensorView a, TensorView b, TensorView weights, int rows, int cols, TensorView losses)
    {
        long t = Start();
        _inner.CosineForward(a, b, weights, rows, cols, losses);
        Stop(nameof(CosineForward), t, a, b, weights, losses);
    }

    /// <inheritdoc/>
    public override void CosineBackward(TensorView a, TensorView b, TensorView weights, int rows, int cols, float scale, TensorView da,
        bool accumulate)
    {
        long t = Start();
        _inner.CosineBackward(a, b, weights, rows, cols, scale, da, accumulate);
        Stop(nameof(CosineBackward), t, a, b, weights, da);
    }

    // ---- optimiser and reductions ----

    /// <inheritdoc/>
    public override void AdamWStep(TensorView param, TensorView grad, TensorView m, TensorView v, in AdamWParams hp)
    {
        long t = Start();
        _inner.AdamWStep(param, grad, m, v, hp);
        Stop(nameof(AdamWStep), t, param, grad, m, v);
    }

    /// <inheritdoc/>
    public override double SumOfSquares(TensorView x)
    {
        long t = Start();
        double sum = _inner.SumOfSquares(x);
        Stop(nameof(SumOfSquares), t, x);
        return sum;
    }

    // ---- the model's index and bookkeeping kernels ----

    /// <inheritdoc/>
    public override void AttentionMask(TensorView mask, TensorView additive, float maskValue)
    {
        long t = Start();
        _inner.AttentionMask(mask, additive, maskValue);
        Stop(nameof(AttentionMask), t, mask, additive);
    }

    /// <inheritdoc/>
    public override void Iota(TensorView output, int period, int stride)
    {
        long t = Start();
        _inner.Iota(output, period, stride);
        Stop(nameof(Iota), t, output);
    }

    /// <inheritdoc/>
    public override void MaskedLmTargets(TensorView positions, TensorView ids, TensorView weights, int predictionsPerRow,
        int seqLength, int ignoreIndex, TensorView rows, TensorView targets)
    {
        long t = Start();
        _inner.MaskedLmTargets(positions, ids, weights, predictionsPerRow, seqLength, ignoreIndex, rows, targets);
        Stop(nameof(MaskedLmTargets), t, positions, ids, weights, rows, targets);
    }

    /// <inheritdoc/>
    public override void LossStatistics(TensorView losses, TensorView argmax, TensorView targets, int ignoreIndex, TensorView stats)
    {
        long t = Start();
        _inner.LossStatistics(losses, argmax, targets, ignoreIndex, stats);
        Stop(nameof(LossStatistics), t, losses, argmax, targets, stats);
    }
}
