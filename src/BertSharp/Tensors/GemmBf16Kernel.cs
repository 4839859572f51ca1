using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// The bf16 GEMM micro-kernel for CPUs with AVX512_BF16, generated as machine code at run time (.NET 10 has no
/// intrinsics for <c>vdpbf16ps</c>) by <see cref="X64Assembler"/> into W^X pages (<see cref="ExecutableMemory"/>) and
/// called through an unmanaged function pointer (System V ABI: kpairs edi, a rsi, b rdx, c rcx, ldc r8 (in floats),
/// alpha xmm0, beta xmm1; only caller-saved registers are used, so there is no prologue).
/// <para>Tile MR×NR = 12×32: 24 zmm accumulators. Packed A: per k pair, MR dwords (row i's bf16 pair (a[i,2p], a[i,2p+1]),
/// low half the even k); packed B: per k pair, NR dwords (b[2p, j], b[2p+1, j]). Per k pair the kernel loads the two B
/// vectors and issues 24 <c>vdpbf16ps acc, b, dword bcst [a + 4i]</c>. Then, like the float32 kernels,
/// c = alpha·acc (beta == 0, C not read) or c = fma(C, beta, alpha·acc).</para>
/// </summary>
internal static unsafe class GemmBf16Kernel
{
    public const int MR = 12, NR = 32;

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

    /// <summary>Kernel pointers (null when the CPU lacks the instruction or code cannot be generated here).
    /// Beta0: C = alpha·acc, C not read; General: C = fma(C, beta, alpha·acc).</summary>
    public static readonly delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void> Beta0;
    /// <summary>See <see cref="Beta0"/>.</summary>
    public static readonly delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void> General;
    /// <summary>Why the generated kernel is not available, or null when it is.</summary>
    public static readonly string? Unavailable;

    static GemmBf16Kernel()
    {
        if (!CpuHasAvx512Bf16) { Unavailable = "the CPU has no AVX512_BF16"; return; }
        if (!ExecutableMemory.Supported) { Unavailable = "run-time code generation needs Linux on x86-64"; return; }
        try
        {
            Beta0 = (delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void>)ExecutableMemory.Publish(Generate(MR, NR / 16, false).Code);
            General = (delegate* unmanaged<int, ushort*, ushort*, float*, nint, float, float, void>)ExecutableMemory.Publish(Generate(MR, NR / 16, true).Code);
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
        {
            Beta0 = null; General = null;
            Unavailable = e.Message;
        }
    }

    /// <summary>Writes the kernel for an mr × (16·nv) tile; beta: whether C is read (fma(C, beta, alpha·acc)).</summary>
    public static X64Assembler Generate(int mr, int nv, bool beta)
    {
        const int Alpha = 30, Beta = 31;
        int accs = mr * nv, bReg = accs;
        if (accs + nv > 30) throw new ArgumentException($"{mr}x{16 * nv} needs {accs + nv} zmm registers besides alpha and beta");
        var x = new X64Assembler();
        int kp = X64Assembler.Rdi, a = X64Assembler.Rsi, b = X64Assembler.Rdx, c = X64Assembler.Rcx, ldc = X64Assembler.R8, t = X64Assembler.Rax;
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
        x.Test32(kp, kp);
        int skip = x.JzForward(".Lstore");
        int loop = x.Label(".Lloop");
        for (int v = 0; v < nv; v++) x.VmovupsLoad(bReg + v, new(b, 64 * v));
        for (int i = 0; i < mr; i++)
            for (int v = 0; v < nv; v++)
                x.Vdpbf16psBcst(i * nv + v, bReg + v, new(a, 4 * i));
        x.AddImm(a, 4 * mr);
        x.AddImm(b, 64 * nv);
        x.Dec32(kp);
        x.JnzBack(loop, ".Lloop");
        x.Bind(skip, ".Lstore");
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
