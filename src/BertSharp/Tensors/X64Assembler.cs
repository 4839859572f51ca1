using System.Text;

namespace BertSharp.Tensors;

/// <summary>
/// A tiny x86-64 assembler for the run-time generated micro-kernels (.NET has no AVX512_BF16 intrinsics): just the
/// instructions those kernels use, encoded as the Intel manual says (EVEX for the 512-bit ones, with compressed 8-bit
/// displacements). Every instruction also appends its Intel-syntax text to <see cref="Listing"/>, which the tests
/// assemble with GNU <c>as</c> and compare byte for byte with <see cref="Code"/>.
/// Registers: general-purpose 0..15 (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15); vector zmm0..zmm31.
/// </summary>
internal sealed class X64Assembler
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7, R8 = 8, R9 = 9;

    private static readonly string[] Gp64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
    private static readonly string[] Gp32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"];

    private readonly List<byte> _code = new();
    public readonly StringBuilder Listing = new();

    public byte[] Code => _code.ToArray();
    public int Position => _code.Count;

    private void B(int x) => _code.Add((byte)x);
    private void D32(int x) { B(x); B(x >> 8); B(x >> 16); B(x >> 24); }
    private void L(string text) => Listing.Append(text).Append('\n');

    // ---- EVEX (512-bit) ----

    /// <summary>Memory operand [base + disp] (base not rsp/r12, whose encoding needs a SIB byte).</summary>
    public readonly record struct Mem(int Base, int Disp);

    /// <summary>EVEX prefix + opcode + ModRM for a register-register form: reg = ModRM.reg, vvvv = second source
    /// (or 0 when unused), rm = ModRM.rm register.</summary>
    private void EvexRR(int pp, int mm, int w, int opcode, int reg, int vvvv, int rm)
    {
        B(0x62);
        B(((reg & 8) != 0 ? 0 : 0x80) | ((rm & 16) != 0 ? 0 : 0x40) | ((rm & 8) != 0 ? 0 : 0x20) | ((reg & 16) != 0 ? 0 : 0x10) | mm);
        B((w << 7) | ((~vvvv & 15) << 3) | 4 | pp);
        B(0x40 | ((vvvv & 16) != 0 ? 0 : 0x08));   // L'L = 10 (512 bits), no broadcast, no mask
        B(opcode);
        B(0xC0 | ((reg & 7) << 3) | (rm & 7));
    }

    /// <summary>EVEX register-memory form; n is the disp8 scale (64 for a full zmm, 4 for a 32-bit broadcast).</summary>
    private void EvexRM(int pp, int mm, int w, int opcode, int reg, int vvvv, Mem m, bool broadcast, int n)
    {
        if ((m.Base & 7) == Rsp || (m.Base & 7) == Rbp) throw new NotSupportedException("base rsp/rbp/r12/r13 not encoded");
        B(0x62);
        B(((reg & 8) != 0 ? 0 : 0x80) | 0x40 | ((m.Base & 8) != 0 ? 0 : 0x20) | ((reg & 16) != 0 ? 0 : 0x10) | mm);
        B((w << 7) | ((~vvvv & 15) << 3) | 4 | pp);
        B(0x40 | (broadcast ? 0x10 : 0) | ((vvvv & 16) != 0 ? 0 : 0x08));
        B(opcode);
        ModRmMem(reg, m, n);
    }

    private void ModRmMem(int reg, Mem m, int n)
    {
        if (m.Disp == 0) B(((reg & 7) << 3) | (m.Base & 7));
        else if (m.Disp % n == 0 && m.Disp / n is >= -128 and <= 127) { B(0x40 | ((reg & 7) << 3) | (m.Base & 7)); B(m.Disp / n); }
        else { B(0x80 | ((reg & 7) << 3) | (m.Base & 7)); D32(m.Disp); }
    }

    private static string Z(int r) => $"zmm{r}";
    private static string M(Mem m, string size) => m.Disp == 0 ? $"{size} ptr [{Gp64[m.Base]}]"
        : m.Disp > 0 ? $"{size} ptr [{Gp64[m.Base]}+{m.Disp}]" : $"{size} ptr [{Gp64[m.Base]}-{-m.Disp}]";

    /// <summary>vdpbf16ps zmm_dst, zmm_src1, dword bcst [mem]: dst.fp32[j] += src1.bf16[2j+1]·t.bf16[1] + src1.bf16[2j]·t.bf16[0],
    /// t the 32-bit value at mem (AVX512_BF16, EVEX.512.F3.0F38.W0 52).</summary>
    public void Vdpbf16psBcst(int dst, int src1, Mem m) { EvexRM(2, 2, 0, 0x52, dst, src1, m, true, 4); L($"vdpbf16ps {Z(dst)}, {Z(src1)}, {M(m, "dword")}{{1to16}}"); }
    /// <summary>vdpbf16ps zmm_dst, zmm_src1, zmm_src2.</summary>
    public void Vdpbf16ps(int dst, int src1, int src2) { EvexRR(2, 2, 0, 0x52, dst, src1, src2); L($"vdpbf16ps {Z(dst)}, {Z(src1)}, {Z(src2)}"); }
    /// <summary>vpbroadcastd zmm, dword [mem] (EVEX.512.66.0F38.W0 58).</summary>
    public void VpbroadcastdLoad(int dst, Mem m) { EvexRM(1, 2, 0, 0x58, dst, 0, m, false, 4); L($"vpbroadcastd {Z(dst)}, {M(m, "dword")}"); }
    /// <summary>vmovups zmm, [mem] (EVEX.512.0F.W0 10).</summary>
    public void VmovupsLoad(int dst, Mem m) { EvexRM(0, 1, 0, 0x10, dst, 0, m, false, 64); L($"vmovups {Z(dst)}, {M(m, "zmmword")}"); }
    /// <summary>vmovups [mem], zmm (EVEX.512.0F.W0 11).</summary>
    public void VmovupsStore(Mem m, int src) { EvexRM(0, 1, 0, 0x11, src, 0, m, false, 64); L($"vmovups {M(m, "zmmword")}, {Z(src)}"); }
    /// <summary>vbroadcastss zmm, xmm (EVEX.512.66.0F38.W0 18).</summary>
    public void Vbroadcastss(int dst, int srcXmm) { EvexRR(1, 2, 0, 0x18, dst, 0, srcXmm); L($"vbroadcastss {Z(dst)}, xmm{srcXmm}"); }
    /// <summary>vpxord zmm, zmm, zmm (EVEX.512.66.0F.W0 EF).</summary>
    public void Vpxord(int dst, int src1, int src2) { EvexRR(1, 1, 0, 0xEF, dst, src1, src2); L($"vpxord {Z(dst)}, {Z(src1)}, {Z(src2)}"); }
    /// <summary>vmulps zmm, zmm, zmm (EVEX.512.0F.W0 59).</summary>
    public void Vmulps(int dst, int src1, int src2) { EvexRR(0, 1, 0, 0x59, dst, src1, src2); L($"vmulps {Z(dst)}, {Z(src1)}, {Z(src2)}"); }
    /// <summary>vfmadd231ps zmm_dst, zmm_src1, [mem]: dst = src1·mem + dst (EVEX.512.66.0F38.W0 B8).</summary>
    public void Vfmadd231ps(int dst, int src1, Mem m) { EvexRM(1, 2, 0, 0xB8, dst, src1, m, false, 64); L($"vfmadd231ps {Z(dst)}, {Z(src1)}, {M(m, "zmmword")}"); }

    // ---- legacy ----

    private void Rex(bool w, int reg, int rm)
    {
        int rex = 0x40 | (w ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((rm & 8) != 0 ? 1 : 0);
        if (rex != 0x40) B(rex);
    }

    /// <summary>prefetcht0 [mem].</summary>
    public void Prefetcht0(Mem m)
    {
        if ((m.Base & 7) == Rsp || (m.Base & 7) == Rbp) throw new NotSupportedException("base rsp/rbp/r12/r13 not encoded");
        Rex(false, 0, m.Base); B(0x0F); B(0x18); ModRmMem(1, m, 1);
        L($"prefetcht0 {M(m, "byte")}");
    }
    /// <summary>add r64, imm32 (imm8 form when it fits).</summary>
    public void AddImm(int r, int imm)
    {
        Rex(true, 0, r);
        if (imm is >= -128 and <= 127) { B(0x83); B(0xC0 | (r & 7)); B(imm); }
        else if (r == Rax) { B(0x05); D32(imm); }
        else { B(0x81); B(0xC0 | (r & 7)); D32(imm); }
        L($"add {Gp64[r]}, {imm}");
    }
    /// <summary>add dst, src (64-bit).</summary>
    public void Add(int dst, int src) { Rex(true, src, dst); B(0x01); B(0xC0 | ((src & 7) << 3) | (dst & 7)); L($"add {Gp64[dst]}, {Gp64[src]}"); }
    /// <summary>mov dst, src (64-bit).</summary>
    public void Mov(int dst, int src) { Rex(true, src, dst); B(0x89); B(0xC0 | ((src & 7) << 3) | (dst & 7)); L($"mov {Gp64[dst]}, {Gp64[src]}"); }
    /// <summary>shl r64, imm8.</summary>
    public void Shl(int r, int imm) { Rex(true, 0, r); B(0xC1); B(0xE0 | (r & 7)); B(imm); L($"shl {Gp64[r]}, {imm}"); }
    /// <summary>test r32, r32.</summary>
    public void Test32(int a, int b) { Rex(false, b, a); B(0x85); B(0xC0 | ((b & 7) << 3) | (a & 7)); L($"test {Gp32[a]}, {Gp32[b]}"); }
    /// <summary>mov dst, src (32-bit).</summary>
    public void Mov32(int dst, int src) { Rex(false, src, dst); B(0x89); B(0xC0 | ((src & 7) << 3) | (dst & 7)); L($"mov {Gp32[dst]}, {Gp32[src]}"); }
    /// <summary>shr r32, imm8.</summary>
    public void Shr32(int r, int imm) { Rex(false, 0, r); if (imm == 1) { B(0xD1); B(0xE8 | (r & 7)); } else { B(0xC1); B(0xE8 | (r & 7)); B(imm); } L($"shr {Gp32[r]}, {imm}"); }
    /// <summary>and r32, imm8 (sign-extended).</summary>
    public void AndImm32(int r, int imm) { Rex(false, 0, r); B(0x83); B(0xE0 | (r & 7)); B(imm); L($"and {Gp32[r]}, {imm}"); }
    /// <summary>dec r32.</summary>
    public void Dec32(int r) { Rex(false, 0, r); B(0xFF); B(0xC8 | (r & 7)); L($"dec {Gp32[r]}"); }
    /// <summary>vzeroupper.</summary>
    public void Vzeroupper() { B(0xC5); B(0xF8); B(0x77); L("vzeroupper"); }
    /// <summary>ret.</summary>
    public void Ret() { B(0xC3); L("ret"); }

    /// <summary>Defines a label here (for backward jumps) and writes it in the listing.</summary>
    public int Label(string name) { L($"{name}:"); return Position; }

    /// <summary>jnz to a label already defined (short form when it fits, as the assembler chooses).</summary>
    public void JnzBack(int target, string name)
    {
        int rel8 = target - (Position + 2);
        if (rel8 >= -128) { B(0x75); B(rel8); }
        else { B(0x0F); B(0x85); D32(target - (Position + 4)); }
        L($"jnz {name}");
    }

    /// <summary>A forward jz (always the 32-bit form); returns the patch position for <see cref="Bind"/>.</summary>
    public int JzForward(string name) { B(0x0F); B(0x84); D32(0); L($"{{disp32}} jz {name}"); return Position; }

    /// <summary>Binds a forward jump to here and writes the label in the listing.</summary>
    public void Bind(int patch, string name)
    {
        int rel = Position - patch;
        _code[patch - 4] = (byte)rel; _code[patch - 3] = (byte)(rel >> 8); _code[patch - 2] = (byte)(rel >> 16); _code[patch - 1] = (byte)(rel >> 24);
        L($"{name}:");
    }
}
