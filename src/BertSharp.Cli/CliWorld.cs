using BertSharp.Distributed;
using BertSharp.Tensors;

namespace BertSharp.Cli;

/// <summary>
/// The process's place in a data-parallel run started by <c>mpirun -np N bertsharp pretrain ...</c> (or finetune):
/// the training commands start MPI here, and <see cref="CliRunner"/> ends it with the command's exit code — MPI_Finalize
/// after success, MPI_Abort with the README's exit code after an error on any rank (so the whole job ends, never hangs).
/// Outside mpirun: one process, nothing to start or end.
/// </summary>
public static class CliWorld
{
    private static ICommunicator? _mpi; // set only under an MPI launcher (tests in-process never set it)

    /// <summary>The communicator of this process (MPI_COMM_WORLD under mpirun, else the single process), started on first use;
    /// also sets the kernel threads per rank: <paramref name="threads"/> when given, else the cores shared by the ranks of the node.</summary>
    public static ICommunicator Start(int threads)
    {
        if (threads > 0) KernelParallel.ThreadCount = threads;
        if (!MpiLaunch.IsLaunchedByMpi) return SingleProcess.Instance;
        _mpi ??= MpiLaunch.Detect();
        if (threads <= 0) KernelParallel.ThreadCount = MpiLaunch.DefaultThreadsPerRank();
        return _mpi;
    }

    /// <summary>Ends MPI with the command's exit code: finalizes after success or an agreed interruption, aborts the whole
    /// job otherwise (does not return then).</summary>
    public static void End(int exitCode)
    {
        var world = _mpi;
        if (world is null) return;
        _mpi = null;
        if (exitCode == CliRunner.ExitOk || world.Size == 1) { world.Dispose(); return; }
        if (exitCode == CliRunner.ExitInterrupted)
        {
            // Every rank stopped at the same step (the Trainer agrees on it) and rank 0 has written its checkpoint.
            world.Barrier();
            world.Dispose();
            return;
        }
        world.Abort(exitCode);
    }
}
