using System.Runtime.InteropServices;
using BertSharp.Cuda;
using BertSharp.Tensors;
using BertSharp.Tests.Distributed;
using Xunit.Abstractions;
using static BertSharp.Tests.Cli.CliTestSupport;

namespace BertSharp.Tests.Cuda;

/// <summary>A fact for the CUDA emulator itself (tools/cuda-emu): what it detects. Always runs on the emulator, in a
/// child process (a real GPU would not report these); skipped only where the emulator cannot run.</summary>
public sealed class EmulatorFactAttribute : FactAttribute
{
    /// <summary>Skips when the emulator cannot run here.</summary>
    public EmulatorFactAttribute()
    {
        if (!EmulatedGpu.CanRun(out string why)) Skip = why;
    }
}

/// <summary>Training on the CUDA device against the CPU, end to end through the command line.</summary>
public class CudaPretrainTests(ITestOutputHelper log)
{
    /// <summary>20 steps of <c>pretrain --device cuda</c> (dropout on, evaluations, checkpoints) follow the CPU run
    /// step by step: same data, same dropout masks (Philox on both), losses and gradient norms within float32
    /// rounding (the GEMMs sum in another order), the same final weights within float32 tolerance.</summary>
    [GpuFact]
    public void Pretraining_on_cuda_follows_the_cpu_for_20_steps()
    {
        if (EmulatedGpu.RanInChild(this, log)) return;
        Compare("fp32", lossTolerance: 1e-4, normTolerance: 1e-3, weightTolerance: 1e-4);
    }

    /// <summary>The same in bf16 on both devices: the same inputs rounded the same way (round to nearest even), float32
    /// sums in another order; an order difference can flip an input's bf16 rounding, so the tolerance is bf16's. The
    /// bf16 runs must differ from an fp32 run (the precision took effect).</summary>
    [GpuFact]
    public void Pretraining_on_cuda_in_bf16_follows_the_cpu_in_bf16_for_20_steps()
    {
        if (EmulatedGpu.RanInChild(this, log)) return;
        Compare("bf16", lossTolerance: 1e-2, normTolerance: 5e-2, weightTolerance: 1e-2);
    }

    /// <summary>The GPU's products in each precision against the CPU's: bf16 equals the CPU's bf16 up to the order of the
    /// float32 sums; tf32 (the CPU has none) rounds its inputs to 10-bit mantissas, so it is near fp32 but not equal.</summary>
    [GpuFact]
    public void Products_in_bf16_and_tf32_on_cuda_round_their_inputs()
    {
        if (EmulatedGpu.RanInChild(this, log)) return;
        const int m = 64, k = 96, n = 80;
        var rng = new Random(7);
        float[] a = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] b = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] On(Device d)
        {
            using var ta = d.Allocate(DType.Float32, m * k);
            using var tb = d.Allocate(DType.Float32, k * n);
            using var tc = d.Allocate(DType.Float32, m * n);
            d.CopyToDevice<float>(a, ta);
            d.CopyToDevice<float>(b, tb);
            d.Sgemm(false, true, m, n, k, 1f, ta, k, tb, k, 0f, tc, n);
            return d.ToArray(tc);
        }
        static double Apart(float[] x, float[] y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max() / x.Max(v => Math.Abs(v));
        float[] fp32 = On(Device.Cpu), bf16 = On(Device.Cpu.WithPrecision(Precision.Bf16));
        using (var gpu = Devices.Open("cuda", Precision.Bf16, out string said))
        {
            Assert.Contains("precision bf16", said);
            var g = On(gpu);
            log.WriteLine($"cuda bf16: {Apart(bf16, g):E2} from the cpu's bf16, {Apart(fp32, g):E2} from fp32");
            Assert.True(Apart(bf16, g) <= 1e-6, "bf16 products differ from the CPU's by more than the order of the sums");
            Assert.True(Apart(fp32, g) > 1e-4, "the bf16 products were computed in fp32");
        }
        using (var gpu = Devices.Open("cuda", Precision.Tf32, out _))
        {
            var g = On(gpu);
            log.WriteLine($"cuda tf32: {Apart(fp32, g):E2} from fp32");
            Assert.InRange(Apart(fp32, g), 1e-6, 2e-3);
        }
    }

    private void Compare(string precision, double lossTolerance, double normTolerance, double weightTolerance)
    {
        using var dir = new TempDir();
        string corpus = WriteCorpus(dir["corpus.txt"]), config = WriteTinyConfig(dir["tiny.json"]);
        var cpu = Run([.. TinyPretrain(corpus, config, dir["cpu"], steps: 20), "--device", "cpu", "--precision", precision]);
        Assert.True(cpu.Code == 0, cpu.Err);
        var gpu = Run([.. TinyPretrain(corpus, config, dir["cuda"], steps: 20), "--device", "cuda", "--precision", precision]);
        Assert.True(gpu.Code == 0, gpu.Err);
        Assert.Contains("device: cuda:0", gpu.Err);
        Assert.Contains($"precision {precision}", gpu.Err);
        var a = MpiJob.TrainingRows(dir["cpu"]);
        var b = MpiJob.TrainingRows(dir["cuda"]);
        Assert.Equal(20, a.Count);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worstLoss = 0, worstNorm = 0;
        foreach (var (step, (loss, norm)) in a)
        {
            var (l2, n2) = b[step];
            worstLoss = Math.Max(worstLoss, Math.Abs(l2 - loss) / Math.Abs(loss));
            worstNorm = Math.Max(worstNorm, Math.Abs(n2 - norm) / Math.Abs(norm));
        }
        log.WriteLine($"{precision}, 20 steps: loss {a[1].Loss:F4} -> {a[20].Loss:F4} (cpu), {b[20].Loss:F4} (cuda); worst relative difference: loss {worstLoss:E2}, grad norm {worstNorm:E2}");
        Assert.True(worstLoss <= lossTolerance, $"losses differ by {worstLoss:E2} (relative)");
        Assert.True(worstNorm <= normTolerance, $"gradient norms differ by {worstNorm:E2} (relative)");
        Assert.True(a[20].Loss < a[1].Loss, "the run learns");
        if (precision != "fp32")
        {
            var fp32 = Run([.. TinyPretrain(corpus, config, dir["fp32"], steps: 20), "--device", "cpu", "--precision", "fp32"]);
            Assert.True(fp32.Code == 0, fp32.Err);
            var f = MpiJob.TrainingRows(dir["fp32"]);
            double apart = f.Max(kv => Math.Abs(kv.Value.Loss - b[kv.Key].Loss) / kv.Value.Loss);
            log.WriteLine($"cuda {precision} against cpu fp32: losses apart by up to {apart:E2}");
            Assert.True(apart > 1e-6, $"the cuda run in {precision} computed what fp32 computes");
        }

        using var ra = new BertSharp.IO.SafeTensorsReader(Path.Combine(dir["cpu"], "checkpoints", "checkpoint-20", "model.safetensors"));
        using var rb = new BertSharp.IO.SafeTensorsReader(Path.Combine(dir["cuda"], "checkpoints", "checkpoint-20", "model.safetensors"));
        double worstWeight = 0;
        foreach (var name in ra.Tensors.Keys.Where(k => ra.Tensors[k].Dtype == "F32"))
        {
            float[] x = ra.ReadF32(name), y = rb.ReadF32(name);
            double scale = Math.Max(1e-3, x.Max(v => Math.Abs(v)));
            for (int i = 0; i < x.Length; i++) worstWeight = Math.Max(worstWeight, Math.Abs(x[i] - y[i]) / scale);
        }
        log.WriteLine($"final weights: worst difference {worstWeight:E2} of each tensor's scale");
        Assert.True(worstWeight <= weightTolerance, $"final weights differ by {worstWeight:E2} of their scale");
    }
}

/// <summary>
/// Mutation checks: the real kernels with one deliberate bug each (a string replacement on <see cref="KernelSources"/>),
/// and cuBLAS called with its operands swapped, must each be caught on the emulator. Each mutant first runs clean
/// (the unmodified kernel, same call, same data) to show the harness is sound; a mutant is the module source the device
/// compiles (<see cref="KernelSources.OverrideModule"/>), so the real <see cref="CudaDevice"/> launches it with its real
/// geometry and arguments.
/// </summary>
public class CudaEmulatorMutationTests(ITestOutputHelper log)
{
    private static CudaDevice OpenWithMutant(string file, string find, string replace)
    {
        var files = KernelSources.Files();
        Assert.True(files.Any(f => f.Name == file && f.Text.Contains(find, StringComparison.Ordinal)),
            $"the mutation's text is no longer in {file}: update this test to the kernel as it is now ({find.Trim()})");
        string mutant = KernelSources.Assemble(files.Select(f => f.Name == file ? (f.Name, f.Text.Replace(find, replace, StringComparison.Ordinal)) : f),
            KernelSources.StandardDefines);
        // The device compiles (and caches, under the mutant's own key) whatever module source it is given.
        using (KernelSources.OverrideModule(_ => mutant))
        {
            var gpu = CudaDevice.Open(0);
            Assert.Equal(mutant, gpu.KernelSource);
            return gpu;
        }
    }

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static string Caught(Action a) => Assert.Throws<BertSharp.Cuda.CudaException>(a).Message;

    [EmulatorFact]
    public void A_kernel_without_its_bounds_guard_is_caught()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true)) return;
        const int n = 1001; // not a multiple of 4: the last Philox block of dropout reaches past the end
        var x = Random(n, 1);
        float[] Dropout(Device d)
        {
            using var tx = d.Allocate(DType.Float32, n);
            using var ty = d.Allocate(DType.Float32, n);
            d.CopyToDevice<float>(x, tx);
            d.DropoutForward(tx, ty, 0.1f, seed: 7, step: 3, site: 2);
            return d.ToArray(ty);
        }
        using (var clean = CudaDevice.Open(0)) Assert.Equal(Dropout(Device.Cpu), Dropout(clean));
        using var gpu = OpenWithMutant("dropout.cu", "if (i >= 0 && i < n) bs_st(y, i,", "if (i >= 0) bs_st(y, i,");
        string message = Caught(() => Dropout(gpu));
        log.WriteLine(message);
        Assert.Contains("bs_dropout", message);
        Assert.Contains("out-of-bounds", message);
        Assert.Contains("past the end", message);
    }

    [EmulatorFact]
    public void An_early_return_before_a_warp_reduction_is_caught()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true)) return;
        const int rows = 3, cols = 100; // 128 threads per row: lanes 100..127 leave, warp 3's first lanes wait
        var x = Random(rows * cols, 2);
        float[] Softmax(Device d)
        {
            using var tx = d.Allocate(DType.Float32, rows * cols);
            using var ty = d.Allocate(DType.Float32, rows * cols);
            d.CopyToDevice<float>(x, tx);
            d.SoftmaxForward(tx, ty, 1, rows, cols, 0.5f, default);
            return d.ToArray(ty);
        }
        using (var clean = CudaDevice.Open(0))
        {
            float[] want = Softmax(Device.Cpu), got = Softmax(clean);
            Assert.All(Enumerable.Range(0, want.Length), i => Assert.True(Math.Abs(want[i] - got[i]) <= 1e-6, $"{i}: {want[i]} vs {got[i]}"));
        }
        using var gpu = OpenWithMutant("softmax.cu", "    float mx = BS_NEG_INF;\n", "    if (threadIdx.x >= cols) return;\n    float mx = BS_NEG_INF;\n");
        string message = Caught(() => Softmax(gpu));
        log.WriteLine(message);
        Assert.Contains("bs_softmax_forward", message);
        Assert.Contains("__shfl_xor_sync", message);
        Assert.Contains("not reached by the whole warp", message);
    }

    [EmulatorFact]
    public void An_early_return_before_a_block_barrier_is_caught()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true)) return;
        const int n = 64; // one block of 256 threads: warps 2..7 leave whole, warps 0 and 1 wait at __syncthreads
        var losses = Random(n, 3).Select(Math.Abs).ToArray();
        var targets = Enumerable.Range(0, n).Select(i => i % 5 == 0 ? -100 : i % 7).ToArray();
        var argmax = Enumerable.Range(0, n).Select(i => i % 3).ToArray();
        float[] Statistics(Device d)
        {
            using var tl = d.Allocate(DType.Float32, n);
            using var ta = d.Allocate(DType.Int32, n);
            using var tt = d.Allocate(DType.Int32, n);
            using var ts = d.Allocate(DType.Float32, 3);
            d.CopyToDevice<float>(losses, tl);
            d.CopyToDevice<int>(argmax, ta);
            d.CopyToDevice<int>(targets, tt);
            d.LossStatistics(tl, ta, tt, -100, ts);
            return d.ToArray(ts);
        }
        using (var clean = CudaDevice.Open(0))
        {
            float[] want = Statistics(Device.Cpu), got = Statistics(clean);
            Assert.All(Enumerable.Range(0, 3), i => Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5 * Math.Max(1, Math.Abs(want[i])), $"{i}: {want[i]} vs {got[i]}"));
        }
        using var gpu = OpenWithMutant("reduce.cu", "    double s = 0.0, correct = 0.0, count = 0.0;\n",
            "    if (threadIdx.x >= n) return;\n    double s = 0.0, correct = 0.0, count = 0.0;\n");
        string message = Caught(() => Statistics(gpu));
        log.WriteLine(message);
        Assert.Contains("bs_loss_statistics", message);
        Assert.Contains("__syncthreads", message);
        Assert.Contains("not reached by every thread", message);
    }

    /// <summary>CudaDevice.Sgemm's call (row-major C = A·B as column-major Cᵀ = Bᵀ·Aᵀ) against the same call with A and
    /// B swapped: cuBLAS's leading-dimension check rejects the swap on a rectangular product, and on a square one
    /// (where the arguments are all valid) the result is B·A, which the comparison with the CPU catches.</summary>
    [EmulatorFact]
    public unsafe void Swapped_gemm_operands_are_caught()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true)) return;
        using var cuda = new RawCuda();
        var blas = cuda.Blas;
        nint handle = cuda.BlasHandle;
        ulong Upload(float[] host) => cuda.Upload(host);
        float[] Download(ulong p, int count) => cuda.Download<float>(p, count);
        (int Status, float[] C, float[] Want) Product(int m, int n, int k, bool swapped)
        {
            float[] a = Random(m * k, 4), b = Random(k * n, 5);
            ulong pa = Upload(a), pb = Upload(b), pc = Upload(new float[m * n]);
            float alpha = 1, beta = 0;
            int status = swapped
                ? blas.cublasGemmEx(handle, Cublas.OpN, Cublas.OpN, n, m, k, &alpha, (void*)pa, Cublas.R32F, k, (void*)pb, Cublas.R32F, n,
                    &beta, (void*)pc, Cublas.R32F, n, Cublas.Compute32F, Cublas.GemmDefault)
                : blas.cublasGemmEx(handle, Cublas.OpN, Cublas.OpN, n, m, k, &alpha, (void*)pb, Cublas.R32F, n, (void*)pa, Cublas.R32F, k,
                    &beta, (void*)pc, Cublas.R32F, n, Cublas.Compute32F, Cublas.GemmDefault);
            var want = new float[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                    want[i * n + j] = (float)s;
                }
            return (status, Download(pc, m * n), want);
        }
        static double Worst(float[] c, float[] want) => c.Zip(want, (x, y) => Math.Abs((double)x - y)).Max();

        var right = Product(5, 7, 3, swapped: false);
        Assert.Equal(0, right.Status);
        Assert.True(Worst(right.C, right.Want) <= 1e-5, $"the correct call is off by {Worst(right.C, right.Want)}");
        var rectangular = Product(5, 7, 3, swapped: true);
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Cublas.StatusName(rectangular.Status));
        var square = Product(6, 6, 6, swapped: true);
        Assert.Equal(0, square.Status);
        double off = Worst(square.C, square.Want);
        log.WriteLine($"swapped square product: off by {off:G3}");
        Assert.True(off > 1e-2, $"a swapped square product went unnoticed (off by {off})");
    }

    /// <summary>The emulated cuBLAS does what issue 20's bf16/tf32 GEMMs need, as cuBLAS does it: bf16 A/B with float32
    /// compute (products of the bf16 values exact, sums in float32) into float32 or bf16 C; FAST_16BF and FAST_TF32
    /// round float32 inputs first, TF32 math mode does for COMPUTE_32F; strided and pointer-batched calls give each
    /// matrix the single call's result; and it refuses what cuBLAS refuses.</summary>
    [EmulatorFact]
    public unsafe void The_emulated_cublas_computes_bf16_and_tf32_products_and_refuses_what_cublas_refuses()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true)) return;
        const int R32F = Cublas.R32F, R16BF = Cublas.R16BF, C32F = Cublas.Compute32F, Fast16BF = 75, FastTF32 = 77, TF32Math = 3;
        const int m = 5, n = 7, k = 37; // column-major: A m×k (lda m), B k×n (ldb k), C m×n (ldc m)
        using var cuda = new RawCuda();
        var blas = cuda.Blas;
        nint h = cuda.BlasHandle;
        float[] a = Random(m * k, 11), b = Random(k * n, 12);
        ushort[] a16 = a.Select(BFloat16.FromSingle).ToArray(), b16 = b.Select(BFloat16.FromSingle).ToArray();
        ulong pa = cuda.Upload(a), pb = cuda.Upload(b), pa16 = cuda.Upload(a16), pb16 = cuda.Upload(b16);
        ulong pc = cuda.Upload(new float[m * n]), pc16 = cuda.Upload(new ushort[m * n]);
        float alpha = 1, beta = 0;
        int Gemm(ulong A, int at, int lda, ulong B, int bt, ulong C, int ct, int compute, int ldc = m)
        {
            float one = 1, zero = 0;
            return blas.cublasGemmEx(h, Cublas.OpN, Cublas.OpN, m, n, k, &one, (void*)A, at, lda, (void*)B, bt, k, &zero, (void*)C, ct, ldc, compute, Cublas.GemmDefault);
        }
        // The reference: inputs as given (already rounded), exact products, the sum in double; float32 sums may differ
        // from it by k·2⁻²⁴·Σ|a·b|.
        (double[] Value, double[] Bound) Reference(Func<float, float> round)
        {
            var value = new double[m * n];
            var bound = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0, abs = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double prod = (double)round(a[i + p * m]) * round(b[p + j * k]);
                        s += prod;
                        abs += Math.Abs(prod);
                    }
                    value[i + j * m] = s;
                    bound[i + j * m] = abs * k * Math.Pow(2, -24) + 1e-30;
                }
            return (value, bound);
        }
        void Near(float[] c, (double[] Value, double[] Bound) want, string what)
            => Assert.All(Enumerable.Range(0, c.Length), i => Assert.True(Math.Abs(c[i] - want.Value[i]) <= want.Bound[i], $"{what}[{i}]: {c[i]} vs {want.Value[i]}"));
        static float Bf(float x) => BFloat16.ToSingle(BFloat16.FromSingle(x));
        static float Tf32(float x) { uint u = BitConverter.SingleToUInt32Bits(x); return BitConverter.UInt32BitsToSingle((u + 0x1000u) & 0xffffe000u); }

        Assert.Equal(0, Gemm(pa16, R16BF, m, pb16, R16BF, pc, R32F, C32F));
        var bf16In = cuda.Download<float>(pc, m * n);
        Near(bf16In, Reference(Bf), "bf16 x bf16 -> f32");
        Assert.Equal(0, Gemm(pa16, R16BF, m, pb16, R16BF, pc16, R16BF, C32F));
        Assert.Equal(bf16In.Select(BFloat16.FromSingle).ToArray(), cuda.Download<ushort>(pc16, m * n));
        Assert.Equal(0, Gemm(pa, R32F, m, pb, R32F, pc, R32F, Fast16BF));
        Assert.Equal(bf16In, cuda.Download<float>(pc, m * n));
        Assert.Equal(0, Gemm(pa, R32F, m, pb, R32F, pc, R32F, FastTF32));
        var tf32 = cuda.Download<float>(pc, m * n);
        Near(tf32, Reference(Tf32), "tf32");
        Assert.Equal(0, blas.cublasSetMathMode(h, TF32Math));
        Assert.Equal(0, Gemm(pa, R32F, m, pb, R32F, pc, R32F, C32F));
        Assert.Equal(tf32, cuda.Download<float>(pc, m * n));
        Assert.Equal(0, blas.cublasSetMathMode(h, Cublas.DefaultMath));
        Assert.Equal(0, Gemm(pa, R32F, m, pb, R32F, pc, R32F, C32F));
        var fp32 = cuda.Download<float>(pc, m * n);
        Near(fp32, Reference(x => x), "fp32");
        Assert.NotEqual(tf32, fp32);

        // Batches: three copies of the bf16 product, strided and through device arrays of pointers.
        const int batch = 3;
        ulong sa = cuda.Upload(Enumerable.Repeat(a16, batch).SelectMany(x => x).ToArray());
        ulong sb = cuda.Upload(Enumerable.Repeat(b16, batch).SelectMany(x => x).ToArray());
        ulong sc = cuda.Upload(new float[batch * m * n]);
        Assert.Equal(0, blas.cublasGemmStridedBatchedEx(h, Cublas.OpN, Cublas.OpN, m, n, k, &alpha, (void*)sa, R16BF, m, m * k,
            (void*)sb, R16BF, k, k * n, &beta, (void*)sc, R32F, m, m * n, batch, C32F, Cublas.GemmDefault));
        Assert.Equal(Enumerable.Repeat(bf16In, batch).SelectMany(x => x).ToArray(), cuda.Download<float>(sc, batch * m * n));
        ulong pc2 = cuda.Upload(new float[batch * m * n]);
        var pointers = new ulong[3 * batch];
        for (int i = 0; i < batch; i++)
        {
            pointers[i] = sa + (ulong)(i * m * k * 2);
            pointers[batch + i] = sb + (ulong)(i * k * n * 2);
            pointers[2 * batch + i] = pc2 + (ulong)(i * m * n * 4);
        }
        ulong arrays = cuda.Upload(pointers);
        Assert.Equal(0, blas.cublasGemmBatchedEx(h, Cublas.OpN, Cublas.OpN, m, n, k, &alpha, (void*)arrays, R16BF, m,
            (void*)(arrays + batch * 8), R16BF, k, &beta, (void*)(arrays + 2 * batch * 8), R32F, m, batch, C32F, Cublas.GemmDefault));
        Assert.Equal(Enumerable.Repeat(bf16In, batch).SelectMany(x => x).ToArray(), cuda.Download<float>(pc2, batch * m * n));

        // What cuBLAS refuses.
        string Status(int s) => Cublas.StatusName(s);
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Status(Gemm(pa16, R16BF, m - 1, pb16, R16BF, pc, R32F, C32F)));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Status(Gemm(pa16, R16BF, m, pb16, R16BF, pc, R32F, C32F, ldc: m - 1)));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Status(blas.cublasGemmEx(h, 7, Cublas.OpN, m, n, k, &alpha, (void*)pa, R32F, m, (void*)pb, R32F, k,
            &beta, (void*)pc, R32F, m, C32F, Cublas.GemmDefault)));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Status(blas.cublasGemmEx(h, Cublas.OpN, Cublas.OpN, -1, n, k, &alpha, (void*)pa, R32F, m, (void*)pb, R32F, k,
            &beta, (void*)pc, R32F, m, C32F, Cublas.GemmDefault)));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Status(blas.cublasGemmStridedBatchedEx(h, Cublas.OpN, Cublas.OpN, m, n, k, &alpha, (void*)sa, R16BF, m, m * k,
            (void*)sb, R16BF, k, k * n, &beta, (void*)sc, R32F, m, m * n, -1, C32F, Cublas.GemmDefault)));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Status(blas.cublasSetMathMode(h, 7)));
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", Status(Gemm(pa, R32F, m, pb16, R16BF, pc, R32F, C32F)));
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", Status(Gemm(pa16, R16BF, m, pb16, R16BF, pc, R32F, FastTF32)));
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", Status(Gemm(pa, R32F, m, pb, R32F, pc16, R16BF, C32F)));
        // Last (it poisons the context, as an illegal address does on a GPU): an operand that is host memory.
        fixed (float* host = a)
        {
            int s = blas.cublasGemmEx(h, Cublas.OpN, Cublas.OpN, m, n, k, &alpha, host, R32F, m, (void*)pb, R32F, k, &beta, (void*)pc, R32F, m, C32F, Cublas.GemmDefault);
            Assert.Equal("CUBLAS_STATUS_EXECUTION_FAILED", Status(s));
        }
    }
}

/// <summary>What the emulator reports besides the mutants: overlapping copies, host pointers passed as device pointers,
/// barriers at different places, a spin that never ends.</summary>
public class CudaEmulatorTests(ITestOutputHelper log)
{
    [EmulatorFact]
    public void Overlapping_copies_are_refused()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true)) return;
        using var gpu = CudaDevice.Open(0);
        using var t = gpu.Allocate(DType.Float32, 200);
        string message = Assert.Throws<BertSharp.Cuda.CudaException>(() => gpu.Copy(((TensorView)t).Slice(0, 100), ((TensorView)t).Slice(50, 100))).Message;
        log.WriteLine(message);
        Assert.Contains("overlap", message);
        gpu.Copy(((TensorView)t).Slice(0, 100), ((TensorView)t).Slice(100, 100)); // adjacent is fine
        gpu.Synchronize();
    }

    private const string Source = """
        extern "C" __global__ void divergent_barrier(float* x) {
            if (threadIdx.x & 1) { __syncthreads(); x[threadIdx.x] = 1.0f; }
            else { __syncthreads(); x[threadIdx.x] = 2.0f; }
        }
        extern "C" __global__ void spin(volatile int* flag) { while (flag[0] == 0) { } }
        extern "C" __global__ void fill(float* x, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] = (float)i; }
        extern "C" __global__ void reverse(float* x, int n) {
            extern __shared__ float buf[];
            int i = threadIdx.x;
            if (i < n) buf[i] = x[i];
            __syncthreads();
            if (i < n) x[i] = buf[n - 1 - i];
        }
        """;

    [EmulatorFact]
    public unsafe void Host_pointers_divergent_barriers_and_endless_kernels_are_reported()
    {
        if (EmulatedGpu.RanInChild(this, log, emulatorOnly: true, environment: new Dictionary<string, string> { ["BERTSHARP_CUDA_EMU_TIMEOUT_S"] = "2" })) return;
        var d = CudaDriver.TryGet(out string why) ?? throw new InvalidOperationException(why);
        var nvrtc = CudaLibrariesLoaded.TryNvrtc(out why) ?? throw new InvalidOperationException(why);
        var reset = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(d.Handle, "cuDevicePrimaryCtxReset_v2");
        nint ctx, loaded;
        d.Check(d.cuDevicePrimaryCtxRetain(&ctx, 0), "cuDevicePrimaryCtxRetain");
        d.Check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        var image = nvrtc.Compile(Source, "checks.cu", KernelSources.Options(9, 0, ptx: false), ptx: false);
        fixed (byte* p = image) d.Check(d.cuModuleLoadData(&loaded, p), "cuModuleLoadData");
        nint module = loaded;
        nint Function(string name)
        {
            nint f;
            var bytes = Nvrtc.Utf8(name);
            fixed (byte* p = bytes) d.Check(d.cuModuleGetFunction(&f, module, p), name);
            return f;
        }
        string Launch(string name, uint threads, params ulong[] args) => LaunchShared(name, threads, 0, args);
        string LaunchShared(string name, uint threads, uint shared, params ulong[] args)
        {
            void** ptrs = stackalloc void*[args.Length];
            fixed (ulong* a = args)
            {
                for (int i = 0; i < args.Length; i++) ptrs[i] = a + i;
                int r = d.cuLaunchKernel(Function(name), 1, 1, 1, threads, 1, 1, shared, 0, ptrs, null);
                if (r == 0) r = d.cuCtxSynchronizeForTests();
                string text = r == 0 ? "ok" : d.ErrorText(r);
                reset(0); // the context is poisoned after a fault, as on a GPU: start afresh
                return text;
            }
        }
        ulong buffer;
        d.Check(d.cuMemAlloc(&buffer, 64 * 4), "cuMemAlloc");
        Assert.Equal("ok", Launch("fill", 64, buffer, 64));

        var host = new float[64];
        fixed (float* h = host)
        {
            string hostPointer = Launch("fill", 64, (ulong)h, 64);
            log.WriteLine(hostPointer);
            Assert.Contains("CUDA_ERROR_ILLEGAL_ADDRESS", hostPointer);
            Assert.Contains("not device memory", hostPointer);
        }
        string divergent = Launch("divergent_barrier", 64, buffer);
        log.WriteLine(divergent);
        Assert.Contains("different __syncthreads", divergent);
        ulong flag;
        d.Check(d.cuMemAlloc(&flag, 4), "cuMemAlloc");
        d.Check(d.cuMemsetD32Async(flag, 0, 1, 0), "cuMemsetD32Async");
        string endless = Launch("spin", 32, flag);
        log.WriteLine(endless);
        Assert.Contains("CUDA_ERROR_LAUNCH_TIMEOUT", endless);
        Assert.Contains("spin", endless);

        // Dynamic shared memory (extern __shared__): works, and an overrun of it faults.
        Assert.Equal("ok", Launch("fill", 64, buffer, 64));
        Assert.Equal("ok", LaunchShared("reverse", 64, 64 * 4, buffer, 64));
        var reversed = new float[64];
        fixed (float* r = reversed) d.Check(d.cuMemcpyDtoH(r, buffer, 64 * 4), "cuMemcpyDtoH");
        Assert.Equal(Enumerable.Range(0, 64).Select(i => (float)(63 - i)).ToArray(), reversed);
        string overrun = LaunchShared("reverse", 64, 32 * 4, buffer, 64);
        log.WriteLine(overrun);
        Assert.Contains("dynamic shared memory", overrun);

        // Stream work from pinned memory runs at the next synchronisation, as a GPU may run it: a host that rewrites
        // its staging buffer before then sends the new contents.
        void* staging;
        d.Check(d.cuMemAllocHost(&staging, 64 * 4), "cuMemAllocHost");
        var span = new Span<float>(staging, 64);
        span.Fill(1f);
        d.Check(d.cuMemcpyHtoDAsync(buffer, staging, 64 * 4, 0), "cuMemcpyHtoDAsync");
        span.Fill(2f);
        d.Check(d.cuStreamSynchronize(0), "cuStreamSynchronize");
        fixed (float* r = reversed) d.Check(d.cuMemcpyDtoH(r, buffer, 64 * 4), "cuMemcpyDtoH");
        Assert.All(reversed, v => Assert.Equal(2f, v));
        d.cuMemFreeHost(staging);

        // The last release of the primary context destroys it, with its memory: using either afterwards is reported.
        d.Check(d.cuDevicePrimaryCtxRelease(0), "cuDevicePrimaryCtxRelease");
        ulong after;
        Assert.Contains("CUDA_ERROR_INVALID_CONTEXT", d.ErrorText(d.cuMemAlloc(&after, 4)));
        d.Check(d.cuDevicePrimaryCtxRetain(&ctx, 0), "cuDevicePrimaryCtxRetain");
        d.Check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        fixed (byte* p = image) d.Check(d.cuModuleLoadData(&loaded, p), "cuModuleLoadData");
        module = loaded;
        string stale = Launch("fill", 64, buffer, 64);
        log.WriteLine(stale);
        Assert.Contains("freed device memory", stale);
    }
}

/// <summary>The emulator's driver and cuBLAS called directly (as CudaDevice calls them): device buffers and a cuBLAS
/// handle, for checks below the Device surface.</summary>
internal sealed unsafe class RawCuda : IDisposable
{
    public readonly CudaDriver Driver;
    public readonly Cublas Blas;
    public readonly nint BlasHandle;

    public RawCuda()
    {
        Driver = CudaDriver.TryGet(out string why) ?? throw new InvalidOperationException(why);
        Blas = CudaLibrariesLoaded.TryCublas(out why) ?? throw new InvalidOperationException(why);
        nint ctx, handle;
        Driver.Check(Driver.cuDevicePrimaryCtxRetain(&ctx, 0), "cuDevicePrimaryCtxRetain");
        Driver.Check(Driver.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        Cublas.Check(Blas.cublasCreate(&handle), "cublasCreate");
        BlasHandle = handle;
    }

    public ulong Upload<T>(T[] host) where T : unmanaged
    {
        ulong p;
        Driver.Check(Driver.cuMemAlloc(&p, (nuint)(host.Length * sizeof(T))), "cuMemAlloc");
        fixed (T* h = host) Driver.Check(Driver.cuMemcpyHtoD(p, h, (nuint)(host.Length * sizeof(T))), "cuMemcpyHtoD");
        return p;
    }

    public T[] Download<T>(ulong p, int count) where T : unmanaged
    {
        var host = new T[count];
        Driver.Check(Driver.cuStreamSynchronize(0), "cuStreamSynchronize");
        fixed (T* h = host) Driver.Check(Driver.cuMemcpyDtoH(h, p, (nuint)(count * sizeof(T))), "cuMemcpyDtoH");
        return host;
    }

    public void Dispose() => Blas.cublasDestroy(BlasHandle);
}

internal static unsafe class CudaDriverTestExtensions
{
    /// <summary>cuCtxSynchronize (CudaDriver does not resolve it; the emulator and every driver export it).</summary>
    public static int cuCtxSynchronizeForTests(this CudaDriver d)
        => ((delegate* unmanaged<int>)NativeLibrary.GetExport(d.Handle, "cuCtxSynchronize"))();
}
