using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

/// <summary>Executable memory for generated code, W^X: pages are mapped read+write, the code is copied in, then they
/// are made read+execute (never writable and executable at once). Linux x86-64 only; kept for the process lifetime.</summary>
internal static unsafe partial class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static extern int Mprotect(void* addr, nuint length, int prot);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static extern int Munmap(void* addr, nuint length);

    /// <summary>Whether this process can generate code here (Linux on x86-64).</summary>
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Copies the code into fresh read+execute pages and returns their address.</summary>
    public static void* Publish(ReadOnlySpan<byte> code)
    {
        if (!Supported) throw new PlatformNotSupportedException("run-time code generation needs Linux on x86-64");
        nuint size = (nuint)((code.Length + 4095) & ~4095);
        void* p = Mmap(null, size, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == (void*)-1) throw new InvalidOperationException($"mmap failed (errno {Marshal.GetLastPInvokeError()})");
        code.CopyTo(new Span<byte>(p, code.Length));
        if (Mprotect(p, size, ProtRead | ProtExec) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Munmap(p, size);
            throw new InvalidOperationException($"mprotect(PROT_READ|PROT_EXEC) failed (errno {errno})");
        }
        return p;
    }
}
