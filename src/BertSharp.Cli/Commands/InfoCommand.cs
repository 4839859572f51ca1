using System.CommandLine;
using System.Runtime.Intrinsics;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp info</c>: what this machine offers the kernels (and, later, what a run folder holds).</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show what the kernels will use on this machine.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"threads: {KernelParallel.ThreadCount}");
            Console.WriteLine($"Vector256 hardware accelerated: {Vector256.IsHardwareAccelerated}");
            Console.WriteLine($"Vector512 hardware accelerated: {Vector512.IsHardwareAccelerated}");
            Console.WriteLine($"FMA: {System.Runtime.Intrinsics.X86.Fma.IsSupported}");
            Console.WriteLine($"SGEMM: {Gemm.KernelDescription}");
            return 0;
        });
        return command;
    }
}
