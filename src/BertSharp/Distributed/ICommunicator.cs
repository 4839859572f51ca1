using BertSharp.Tensors;

namespace BertSharp.Distributed;

/// <summary>
/// The processes of a data-parallel run (MPI's communicator): each has a rank in [0, <see cref="Size"/>), runs the same
/// model on its slice of every global batch, and sums gradients and statistics with the others. Every rank must make
/// the same calls in the same order; a call returns when the collective is complete on this rank.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's rank, 0 ≤ Rank &lt; Size. Rank 0 alone writes files and prints.</summary>
    int Rank { get; }

    /// <summary>Number of processes in the run.</summary>
    int Size { get; }

    /// <summary>What the run uses, for messages: "single process", "MPI (Open MPI 4.1.4)", ...</summary>
    string Description { get; }

    /// <summary>Replaces <paramref name="buffer"/> (Float32, on the model's device) by the element-wise sum of every
    /// rank's buffer; every rank receives the same bits.</summary>
    void AllReduceSum(TensorView buffer);

    /// <summary>Replaces <paramref name="values"/> (host doubles: statistics) by their sum over the ranks.</summary>
    void AllReduceSum(Span<double> values);

    /// <summary>Waits until every rank has reached this call.</summary>
    void Barrier();

    /// <summary>Ends every rank of the run at once (after a fatal error on this one); does not return.</summary>
    void Abort(int exitCode);
}
