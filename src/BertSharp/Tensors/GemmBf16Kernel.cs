using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// The bf16 GEMM micro-kernel for CPUs with AVX512_BF16, generated as machine code at run time (.NET 10 has no
/// intrinsics for <c>vdpbf16ps</c>) by <see cref="X64Assembler"/> into W^X pages (<see cref="ExecutableMemory"/>) and
/// called through an unmanaged function pointer (System V ABI: kpairs edi, a rsi, b rdx, c rcx, ldc r8 (in floats),
/// alpha xmm0, beta xmm1; only caller-saved registers are used, so there is no prologue).
/// <para>Tile MR×NR = 12×32: 24 zmm accumulators. Packed A: per k pair, MR dwords (row i's bf16 pair (a[i,2p], a[i,2p+1]),
/// low half the even k); packed B: per k pair, NR dwords (b[2p, j], b[2p+1, j]). Per k pair the kernel loads the two B
/// vectors and, per row, broadcasts the row's A pair (<c>vpbroadcastd</c>) and issues 2 <c>vdpbf16ps acc, b, a</c>
/// (24 per k pair; a broadcast memory operand on each vdpbf16ps instead was ~10% slower here: twice the loads).
/// Then, like the float32 kernels, c = alpha·acc (beta == 0, C not read) or c = fma(C, beta, alpha·acc).</para>
/// </summary>
internal static unsafe class GemmBf16Kernel
{
    /// <summary>The CPU has AVX512_BF16 (CPUID leaf 7 sub-leaf 1, EAX bit 5) and the OS keeps the AVX-512 state.</summary>
    public static bool CpuHasAvx512Bf16 { get; } = Detect();

    private static bool Detect()
    {
        if (!X86Base.IsSupported || !Avx512F.IsSupported || !Avx512BW.IsSupported) return false;
        var (maxSub, _, _, _) = X86Base.CpuId(7, 0);
        if (maxSub < 1) return false;
        var (eax, _, _, _) = X86Base.CpuId(7, 1);
        return (eax & (1 << 5)) != 0;
    }

    /// <summary>One generated kernel pair and its tile. Beta0: C = alpha·acc, C not read; General: C = fma(C, beta, alpha·acc).</summary>
    public sealed class Variant
    {
        public required int MR, NR, Unroll;
        public required bool BroadcastToRegister;
        public required delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void> Beta0, General;
        public string Description => $"{MR}x{NR}{(BroadcastToRegister ? "" : " bcst-operand")}{(Unroll > 1 ? $" unroll {Unroll}" : "")}";
    }

    /// <summary>The kernel in use, or null when the CPU lacks the instruction or code cannot be generated here
    /// (<see cref="Unavailable"/> says why).</summary>
    public static Variant? Current { get; private set; }

    /// <summary>Why the generated kernel is not available, or null when it is.</summary>
    public static string? Unavailable { get; private set; }

    static GemmBf16Kernel()
    {
        if (!CpuHasAvx512Bf16) { Unavailable = "the CPU has no AVX512_BF16"; return; }
        if (!ExecutableMemory.Supported) { Unavailable = "run-time code generation needs Linux on x86-64"; return; }
        try { Current = Build(12, 2, true, 1); }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
        {
            Unavailable = e.Message;
        }
    }

    /// <summary>Generates and publishes a kernel pair (the pages stay mapped for the process lifetime).</summary>
    public static Variant Build(int mr, int nv, bool bcstReg, int unroll) => new()
    {
        MR = mr, NR = 16 * nv, Unroll = unroll, BroadcastToRegister = bcstReg,
        Beta0 = (delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void>)ExecutableMemory.Publish(Generate(mr, nv, false, bcstReg, unroll).Code),
        General = (delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void>)ExecutableMemory.Publish(Generate(mr, nv, true, bcstReg, unroll).Code),
    };

    /// <summary>Switches the kernel (benchmark tuning; tile shapes change no result bits, only speed).</summary>
    public static void Use(Variant v)
    {
        if (Current == null) throw new PlatformNotSupportedException(Unavailable);
        Current = v;
    }

    /// <summary>Writes the kernel for an mr × (16·nv) tile; beta: whether C is read (fma(C, beta, alpha·acc)).
    /// bcstReg: each row's A pair is broadcast once into a register (vpbroadcastd) and used by nv vdpbf16ps, rather than
    /// being a broadcast memory operand of each; unroll: k pairs per loop iteration (1 or 2).</summary>
    public static X64Assembler Generate(int mr, int nv, bool beta, bool bcstReg = true, int unroll = 1)
    {
        const int Alpha = 30, Beta = 31;
        int accs = mr * nv, bReg = accs, aReg0 = accs + nv, aRegs = 30 - aReg0;
        if (aRegs < (bcstReg ? 1 : 0)) throw new ArgumentException($"{mr}x{16 * nv} needs more than 32 zmm registers");
        if (unroll is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(unroll));
        var x = new X64Assembler();
        int kp = X64Assembler.Rdi, a = X64Assembler.Rsi, b = X64Assembler.Rdx, c = X64Assembler.Rcx, ldc = X64Assembler.R8,
            t = X64Assembler.Rax, n2 = X64Assembler.R9;
        x.Vbroadcastss(Alpha, 0);
        if (beta) x.Vbroadcastss(Beta, 1);
        x.Shl(ldc, 2);                       // ldc in bytes
        // Pull the C tile toward L1 while the k loop runs.
        x.Mov(t, c);
        for (int i = 0; i < mr; i++)
        {
            x.Prefetcht0(new(t, 0));
            x.Prefetcht0(new(t, 64 * nv - 4));
            if (i + 1 < mr) x.Add(t, ldc);
        }
        for (int r = 0; r < accs; r++) x.Vpxord(r, r, r);
        int aNext = 0;
        void Step(int u)
        {
            for (int v = 0; v < nv; v++) x.VmovupsLoad(bReg + v, new(b, 64 * (nv * u + v)));
            for (int i = 0; i < mr; i++)
            {
                var pair = new X64Assembler.Mem(a, 4 * (mr * u + i));
                if (bcstReg)
                {
                    int ar = aReg0 + aNext++ % aRegs;
                    x.VpbroadcastdLoad(ar, pair);
                    for (int v = 0; v < nv; v++) x.Vdpbf16ps(i * nv + v, bReg + v, ar);
                }
                else
                    for (int v = 0; v < nv; v++) x.Vdpbf16psBcst(i * nv + v, bReg + v, pair);
            }
        }
        if (unroll == 1)
        {
            x.Test32(kp, kp);
            int skip = x.JzForward(".Lstore");
            int loop = x.Label(".Lloop");
            Step(0);
            x.AddImm(a, 4 * mr);
            x.AddImm(b, 64 * nv);
            x.Dec32(kp);
            x.JnzBack(loop, ".Lloop");
            x.Bind(skip, ".Lstore");
        }
        else
        {
            x.Mov32(n2, kp);
            x.Shr32(n2, 1);
            int toTail = x.JzForward(".Ltail");
            int loop = x.Label(".Lloop");
            Step(0);
            Step(1);
            x.AddImm(a, 8 * mr);
            x.AddImm(b, 128 * nv);
            x.Dec32(n2);
            x.JnzBack(loop, ".Lloop");
            x.Bind(toTail, ".Ltail");
            x.AndImm32(kp, 1);
            int skip = x.JzForward(".Lstore");
            Step(0);
            x.Bind(skip, ".Lstore");
        }
        for (int i = 0; i < mr; i++)
        {
            for (int v = 0; v < nv; v++)
            {
                int r = i * nv + v;
                x.Vmulps(r, r, Alpha);
                if (beta) x.Vfmadd231ps(r, Beta, new(c, 64 * v));
                x.VmovupsStore(new(c, 64 * v), r);
            }
            if (i + 1 < mr) x.Add(c, ldc);
        }
        x.Vzeroupper();
        x.Ret();
        return x;
    }
}
