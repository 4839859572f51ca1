using BertSharp.Tensors;

namespace BertSharp.Distributed;

/// <summary>
/// A data-parallel group of ranks inside one process, one thread per rank: the collectives of MPI over shared
/// memory, for tests and for trying data parallelism without MPI. Sums add the ranks' contributions in rank order, so
/// every rank receives the same bits.
/// </summary>
public static class LocalGroup
{
    /// <summary>Communicators for ranks 0..<paramref name="size"/>−1 of one group; give each to its own thread.</summary>
    public static ICommunicator[] Create(int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a group needs at least one rank");
        var shared = new Shared(size);
        var members = new ICommunicator[size];
        for (int r = 0; r < size; r++) members[r] = new Member(shared, r);
        return members;
    }

    private sealed class Shared(int size)
    {
        public readonly int Size = size;
        public readonly Barrier Barrier = new(size);
        public readonly float[]?[] Floats = new float[]?[size];
        public readonly double[]?[] Doubles = new double[]?[size];
        public volatile bool Aborted;
    }

    private sealed class Member(Shared s, int rank) : ICommunicator
    {
        public int Rank => rank;
        public int Size => s.Size;
        public string Description => $"in-process group of {s.Size}";

        // This rank's contribution and the sum, reused from call to call (grown when the length changes).
        private float[] _mine = [], _sum = [];
        private double[] _mineD = [], _sumD = [];

        public void AllReduceSum(TensorView buffer)
        {
            var d = buffer.Tensor.Device;
            int n = buffer.Length;
            if (_mine.Length != n) (_mine, _sum) = (new float[n], new float[n]);
            d.CopyToHost<float>(buffer, _mine);
            s.Floats[rank] = _mine;
            Wait();
            Array.Clear(_sum);
            for (int r = 0; r < s.Size; r++)
            {
                var part = s.Floats[r]!;
                if (part.Length != n) throw new InvalidOperationException($"allreduce: rank {r} gave {part.Length} values, rank {rank} {n}");
                for (int i = 0; i < n; i++) _sum[i] += part[i];
            }
            Wait(); // everyone has read every contribution before any is replaced
            d.CopyToDevice<float>(_sum, buffer);
        }

        public void AllReduceSum(Span<double> values)
        {
            int n = values.Length;
            if (_mineD.Length != n) (_mineD, _sumD) = (new double[n], new double[n]);
            values.CopyTo(_mineD);
            s.Doubles[rank] = _mineD;
            Wait();
            Array.Clear(_sumD);
            for (int r = 0; r < s.Size; r++)
                for (int i = 0; i < n; i++) _sumD[i] += s.Doubles[r]![i];
            Wait();
            _sumD.CopyTo(values);
        }

        public void Barrier() => Wait();

        /// <summary>Marks the group failed, so that the other ranks stop waiting in their collectives; throws.</summary>
        public void Abort(int exitCode)
        {
            s.Aborted = true;
            throw new OperationCanceledException($"rank {rank} aborted the group (exit code {exitCode})");
        }

        private void Wait()
        {
            // A rank that failed cannot arrive: the others stop instead of waiting for ever.
            while (!s.Barrier.SignalAndWait(TimeSpan.FromMilliseconds(200)))
                if (s.Aborted) throw new OperationCanceledException("another rank of the group failed");
        }

        public void Dispose() { }
    }
}
