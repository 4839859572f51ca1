namespace BertSharp.Distributed;

/// <summary>
/// How this process was launched: under an MPI launcher (<c>mpirun</c>, <c>mpiexec</c>, <c>srun</c> with PMI/PMIx) or on
/// its own; and the communicator that goes with it.
/// <code>
/// using var world = MpiLaunch.Detect();          // SingleProcess.Instance unless started by mpirun
/// var options = new TrainerOptions { Communicator = world, ... };
/// </code>
/// </summary>
public static class MpiLaunch
{
    /// <summary>Environment variable naming the MPI library to load (a file name or path), instead of
    /// <see cref="MpiCommunicator.DefaultLibraries"/>.</summary>
    public const string LibraryVariable = "BERTSHARP_MPI_LIBRARY";

    /// <summary>The variables a launcher sets in each process it starts (Open MPI, PMIx, MPICH's Hydra/PMI).</summary>
    private static readonly string[] WorldSizeVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"];

    /// <summary>True when an MPI launcher started this process (one of its environment variables is set).</summary>
    public static bool IsLaunchedByMpi => WorldSizeVariables.Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));

    /// <summary>The ranks on this node as the launcher reports them (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS); 1 when unknown.</summary>
    public static int LocalSize
    {
        get
        {
            foreach (var v in (string[])["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"])
                if (int.TryParse(Environment.GetEnvironmentVariable(v), out int n) && n > 0) return n;
            return 1;
        }
    }

    /// <summary>
    /// The communicator of this process: MPI_COMM_WORLD (an <see cref="MpiCommunicator"/>) under an MPI launcher,
    /// <see cref="SingleProcess.Instance"/> otherwise. Call once per process; dispose it at the end (MPI_Finalize).
    /// </summary>
    /// <param name="library">the MPI library to load; null: <see cref="LibraryVariable"/>, else the default names</param>
    public static ICommunicator Detect(string? library = null)
    {
        if (!IsLaunchedByMpi) return SingleProcess.Instance;
        library ??= Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } v ? v : null;
        return new MpiCommunicator(library);
    }

    /// <summary>
    /// Compute threads for one rank: the cores this process may run on, shared among the ranks of the node that may run
    /// on them too. A rank the launcher bound to its own cores (Open MPI binds to a core for up to 2 ranks) gets all of
    /// its cores; unbound ranks share the machine's (cores / <see cref="LocalSize"/>). At least 1.
    /// </summary>
    public static int DefaultThreadsPerRank()
    {
        int mine = Environment.ProcessorCount;
        int online = OnlineCpus() ?? mine;
        return mine < online ? Math.Max(1, mine) : Math.Max(1, mine / LocalSize);
    }

    /// <summary>The CPUs online (Linux: /sys/devices/system/cpu/online, "0-3,8-11"); null where unknown.</summary>
    private static int? OnlineCpus()
    {
        try
        {
            const string path = "/sys/devices/system/cpu/online";
            if (!File.Exists(path)) return null;
            int n = 0;
            foreach (var part in File.ReadAllText(path).Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var ends = part.Split('-');
                n += ends.Length == 2 ? int.Parse(ends[1]) - int.Parse(ends[0]) + 1 : 1;
            }
            return n > 0 ? n : null;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return null; }
    }
}
