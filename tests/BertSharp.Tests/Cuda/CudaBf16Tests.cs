using BertSharp.Cuda;
using BertSharp.Tensors;

namespace BertSharp.Tests.Cuda;

/// <summary>
/// The CUDA kernels' bf16 entry points against their float32 ones on the same device: each kernel body is one template
/// over the storage type, so on bf16 inputs it must compute exactly what the float32 kernel computes on those values
/// widened, and store it rounded (bf16 outputs bit for bit the float32 outputs rounded to nearest even; float32
/// outputs — statistics, parameter gradients — bit for bit equal). Independent of the CPU's bf16 kernels, which
/// <see cref="DeviceComparison"/> checks the device against.
/// </summary>
public class CudaBf16Tests
{
    private sealed class Run(Device d, bool bf16, int seed) : IDisposable
    {
        private readonly List<DeviceTensor> _owned = [];
        private readonly Random _rng = new(seed);
        public readonly Device D = d;

        public float[] Rand(int n, float scale = 1f) =>
            Enumerable.Range(0, n).Select(_ => BFloat16.Round((float)(_rng.NextDouble() * 2 - 1) * scale)).ToArray();

        /// <summary>An activation: bf16, or float32 holding the same (bf16-exact) values.</summary>
        public DeviceTensor A(float[] data)
        {
            var t = Own(D.Allocate(bf16 ? DType.BFloat16 : DType.Float32, data.Length));
            if (bf16) D.CopyToDevice<ushort>(data.Select(BFloat16.FromSingle).ToArray(), t);
            else D.CopyToDevice<float>(data, t);
            return t;
        }

        /// <summary>A float32 operand (parameter, gradient, statistic).</summary>
        public DeviceTensor F(float[] data)
        {
            var t = Own(D.Allocate(DType.Float32, data.Length));
            D.CopyToDevice<float>(data, t);
            return t;
        }

        public DeviceTensor I(int[] data)
        {
            var t = Own(D.Allocate(DType.Int32, data.Length));
            D.CopyToDevice<int>(data, t);
            return t;
        }

        /// <summary>In the float32 run, rounds an activation that a later kernel reads to the bf16 values the bf16 run
        /// stored, so both runs feed that kernel the same values.</summary>
        public void Round(DeviceTensor t)
        {
            if (bf16) return;
            using var h = D.Allocate(DType.BFloat16, t.Length);
            D.Cast(t, h);
            D.Cast(h, t);
        }

        private DeviceTensor Own(DeviceTensor t) { _owned.Add(t); return t; }

        /// <summary>Each tensor's bits as uint: a bf16 one as the float32 it widens to.</summary>
        public uint[] Bits(DeviceTensor t)
        {
            if (t.Type == DType.BFloat16)
            {
                var h = new ushort[t.Length];
                D.CopyToHost<ushort>(t, h);
                return h.Select(v => (uint)v << 16).ToArray();
            }
            if (t.Type == DType.Int32)
            {
                var i = new int[t.Length];
                D.CopyToHost<int>(t, i);
                return i.Select(v => (uint)v).ToArray();
            }
            return D.ToArray(t).Select(BitConverter.SingleToUInt32Bits).ToArray();
        }

        public void Dispose() { foreach (var t in _owned) t.Dispose(); }
    }

    // Runs body on bf16 and on float32 activations (same values, same seed) and compares its outputs: a bf16 output with
    // the float32 one rounded, any other output bit for bit.
    private static void Agree(Device gpu, string kernel, Func<Run, DeviceTensor[]> body)
    {
        using var h = new Run(gpu, true, 42);
        using var f = new Run(gpu, false, 42);
        var ho = body(h);
        var fo = body(f);
        for (int k = 0; k < ho.Length; k++)
        {
            uint[] got = h.Bits(ho[k]), want = f.Bits(fo[k]);
            if (ho[k].Type == DType.BFloat16)
                want = want.Select(w => (uint)BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(w)) << 16).ToArray();
            int bad = Enumerable.Range(0, got.Length).FirstOrDefault(i => got[i] != want[i], -1);
            Assert.True(bad < 0, bad < 0 ? "" : $"{kernel}, output {k}, element {bad}: {got[bad]:X8} where the float32 kernel rounded gives {want[bad]:X8}");
        }
    }

    [GpuFact]
    public void Every_bf16_kernel_stores_its_float32_kernels_result_rounded()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        const int n = 3001, rows = 23, cols = 301;
        foreach (bool approx in new[] { false, true })
        {
            Agree(gpu, $"Gelu({approx})", r => { var x = r.A(r.Rand(n, 6)); var y = r.A(new float[n]); r.D.Gelu(x, y, approx); return [y]; });
            Agree(gpu, $"GeluBackward({approx})", r =>
            {
                var x = r.A(r.Rand(n, 6)); var dy = r.A(r.Rand(n)); var dx = r.A(new float[n]);
                r.D.GeluBackward(x, dy, dx, approx);
                return [dx];
            });
        }
        Agree(gpu, "Tanh", r => { var x = r.A(r.Rand(n, 5)); var y = r.A(new float[n]); r.D.Tanh(x, y); return [y]; });
        Agree(gpu, "TanhBackward", r => { var y = r.A(r.Rand(n)); var dy = r.A(r.Rand(n)); r.D.TanhBackward(y, dy, dy); return [dy]; });
        Agree(gpu, "Add", r => { var y = r.A(r.Rand(n)); r.D.Add(y, r.A(r.Rand(n))); return [y]; });
        Agree(gpu, "BiasAdd", r => { var y = r.A(r.Rand(rows * cols)); r.D.BiasAdd(y, rows, cols, r.F(r.Rand(cols))); return [y]; });
        Agree(gpu, "BiasBackward", r => { var db = r.F(r.Rand(cols)); r.D.BiasBackward(r.A(r.Rand(rows * cols)), rows, cols, db); return [db]; });
        Agree(gpu, "LayerNorm", r =>
        {
            var x = r.A(r.Rand(rows * cols, 3)); var g = r.F(r.Rand(cols)); var b = r.F(r.Rand(cols));
            var y = r.A(new float[rows * cols]); var mu = r.F(new float[rows]); var rs = r.F(new float[rows]);
            r.D.LayerNormForward(x, rows, cols, g, b, 1e-12f, y, mu, rs);
            var dy = r.A(r.Rand(rows * cols)); var dg = r.F(r.Rand(cols)); var db = r.F(r.Rand(cols));
            r.D.LayerNormBackward(dy, x, mu, rs, g, rows, cols, dy, dg, db); // dx aliasing dy
            return [y, mu, rs, dy, dg, db];
        });
        Agree(gpu, "Softmax", r =>
        {
            var x = r.A(r.Rand(rows * 19, 4)); var y = r.A(new float[rows * 19]);
            r.D.SoftmaxForward(x, y, 1, rows, 19, 0.25f, r.F(r.Rand(19).Select(v => v < 0 ? -10000f : 0f).ToArray()));
            var dy = r.A(r.Rand(rows * 19));
            r.Round(y);
            r.D.SoftmaxBackward(y, dy, dy, rows, 19, 0.25f);
            return [y, dy];
        });
        Agree(gpu, "Dropout", r =>
        {
            var x = r.A(r.Rand(1003)); var y = r.A(new float[1003]);
            r.D.DropoutForward(x, y, 0.1f, 7, 3, 2, offset: 6);
            r.D.DropoutBackward(x, x, 0.3f, 7, 4, 2, offset: 6);
            return [y, x];
        });
        var ids = Enumerable.Range(0, 61).Select(i => i * 7 % 13).ToArray();
        Agree(gpu, "Embedding", r =>
        {
            var table = r.F(r.Rand(13 * 45)); var o = r.A(r.Rand(61 * 45)); var dt = r.F(r.Rand(13 * 45));
            r.D.EmbeddingForward(r.I(ids), table, 45, o, accumulate: true);
            r.D.EmbeddingBackward(r.I(ids), r.A(r.Rand(61 * 45)), 45, dt);
            return [o, dt];
        });
        // The model's gather and scatter-add of distinct rows (the masked positions): into bf16 rows each add is
        // rounded (DeviceComparison checks repeated rows against the CPU's add-by-add rounding).
        var distinct = Enumerable.Range(0, 13).Select(i => i * 5 % 13).ToArray();
        Agree(gpu, "Embedding gather/scatter", r =>
        {
            var rowsIn = r.A(r.Rand(13 * 45)); var o = r.A(new float[13 * 45]); var drows = r.A(r.Rand(13 * 45));
            r.D.EmbeddingForward(r.I(distinct), rowsIn, 45, o, accumulate: false);
            r.D.EmbeddingBackward(r.I(distinct), r.A(r.Rand(13 * 45)), 45, drows);
            return [o, drows];
        });
        const int v = 1031, rv = 9;
        var targets = Enumerable.Range(0, rv).Select(i => i % 4 == 1 ? -100 : i * 113 % v).ToArray();
        Agree(gpu, "CrossEntropy", r =>
        {
            var logits = r.A(r.Rand(rv * v, 8)); var loss = r.F(new float[rv]); var lse = r.F(new float[rv]); var am = r.I(new int[rv]);
            r.D.CrossEntropyForward(logits, rv, v, r.I(targets), -100, loss, lse, am);
            var dl = r.A(new float[rv * v]);
            r.D.CrossEntropyBackward(logits, lse, r.I(targets), -100, rv, v, 0.5f, dl);
            return [loss, lse, am, dl];
        });
        Agree(gpu, "BiasCrossEntropy", r =>
        {
            var logits = r.A(r.Rand(rv * v, 8)); var bias = r.F(r.Rand(v)); var loss = r.F(new float[rv]); var lse = r.F(new float[rv]);
            var am = r.I(new int[rv]); var db = r.F(r.Rand(v));
            r.D.BiasCrossEntropyForward(logits, bias, rv, v, r.I(targets), -100, loss, lse, am);
            var stored = r.A(new float[rv * v]);
            r.D.Copy(logits, stored);
            r.Round(logits);
            r.D.BiasCrossEntropyBackward(logits, lse, r.I(targets), -100, rv, v, 0.5f, db, r.F(new float[1]));
            return [stored, loss, lse, am, logits, db];
        });
        var weights = Enumerable.Range(0, rows).Select(i => i % 4 == 1 ? 0f : 0.5f + i % 3).ToArray();
        Agree(gpu, "Cosine", r =>
        {
            var a = r.A(r.Rand(rows * cols, 3)); var b = r.A(r.Rand(rows * cols)); var w = r.F(weights); var loss = r.F(new float[rows]);
            r.D.CosineForward(a, b, w, rows, cols, loss);
            var da = r.A(new float[rows * cols]); var acc = r.A(r.Rand(rows * cols));
            r.D.CosineBackward(a, b, w, rows, cols, 64f, da, accumulate: false);
            r.D.CosineBackward(a, b, w, rows, cols, 64f, acc, accumulate: true);
            return [loss, da, acc];
        });
    }

    /// <summary>The activation rule is the CPU's: one call's activations all Float32 or all BFloat16.</summary>
    [GpuFact]
    public void Mixed_activation_types_are_refused_as_on_the_cpu()
    {
        if (EmulatedGpu.RanInChild(this)) return;
        using var gpu = CudaDevice.Open(0);
        foreach (var d in new[] { Device.Cpu, (Device)gpu })
        {
            using var x = d.Allocate(DType.Float32, 8);
            using var y = d.Allocate(DType.BFloat16, 8);
            var e = Assert.Throws<ArgumentException>(() => d.Gelu(x, y, false));
            Assert.Equal("gelu: activations must all be Float32 or all BFloat16, got Float32, BFloat16", e.Message);
        }
    }
}
