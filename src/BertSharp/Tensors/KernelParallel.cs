using System.Runtime.CompilerServices;

namespace BertSharp.Tensors;

/// <summary>
/// The kernels' own parallel-for: a fixed team of worker threads that spin briefly for work before
/// sleeping, with the calling thread taking part. Work is split statically into contiguous chunks, so
/// a kernel whose chunks write disjoint outputs is deterministic whatever the thread count; kernels
/// that reduce must still fix their reduction order themselves (see <see cref="FixedChunks"/>).
/// Nested calls (a kernel called from inside a worker) run inline. Zero allocation per call.
/// </summary>
public static unsafe class KernelParallel
{
    // Work descriptor published to workers. Only one parallel region runs at a time (guarded by
    // _regionLock); callers from several user threads serialise, which is what a training step wants.
    private static delegate*<void*, int, int, void> _fn;
    private static void* _state;
    private static int _count;
    private static int _chunks;
    private static int _pending;
    // High 32 bits: region generation; low 32 bits: next chunk to claim. One word, so a worker that
    // wakes late can never claim a chunk of a region it did not read the parameters of.
    private static long _claim;

    private static readonly object _regionLock = new();
    private static Worker[] _workers = Array.Empty<Worker>();
    private static int _threads = Math.Max(1, Environment.ProcessorCount);

    [ThreadStatic] private static bool _inRegion;

    /// <summary>Threads kernels may use (the caller included). Defaults to the processor count;
    /// set it once at start-up (for example from a <c>--threads</c> option).</summary>
    public static int ThreadCount
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "ThreadCount must be at least 1.");
            lock (_regionLock) _threads = value;
        }
    }

    /// <summary>Runs <paramref name="body"/> over [0, count) in at most <see cref="ThreadCount"/> contiguous
    /// chunks of at least <paramref name="minChunk"/> items. Runs inline when that gives one chunk.</summary>
    public static void For<T>(int count, int minChunk, ref T body) where T : struct, IRangeBody
    {
        if (count <= 0) return;
        int threads = _threads;
        int chunks = minChunk <= 0 ? threads : Math.Min(threads, Math.Max(1, count / Math.Max(1, minChunk)));
        if (chunks <= 1 || _inRegion)
        {
            body.Invoke(0, count);
            return;
        }
        chunks = Math.Min(chunks, count);
        lock (_regionLock)
        {
            EnsureWorkers(chunks - 1);
            _fn = &Thunk<T>;
            _state = Unsafe.AsPointer(ref body);
            _count = count;
            _chunks = chunks;
            _pending = chunks;
            long gen = (Volatile.Read(ref _claim) >> 32) + 1;
            Interlocked.Exchange(ref _claim, gen << 32);
            for (int i = 0; i < chunks - 1; i++) _workers[i].Wake();

            _inRegion = true;
            try { RunChunks(gen); }
            finally { _inRegion = false; }

            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _fn = null;
            _state = null;
        }
    }

    /// <summary>Like <see cref="For{T}"/> but the chunk boundaries are fixed multiples of
    /// <paramref name="chunk"/> whatever the thread count: body is invoked once per chunk index. Use it
    /// for reductions whose per-chunk partials are then combined in index order.</summary>
    public static void FixedChunks<T>(int count, int chunk, ref T body) where T : struct, IRangeBody
    {
        int n = (count + chunk - 1) / chunk;
        var wrapper = new ChunkBody<T>(count, chunk, Unsafe.AsPointer(ref body));
        For(n, 1, ref wrapper);
    }

    private readonly struct ChunkBody<T> : IRangeBody where T : struct, IRangeBody
    {
        private readonly int _count, _chunk;
        private readonly void* _inner;
        public ChunkBody(int count, int chunk, void* inner) { _count = count; _chunk = chunk; _inner = inner; }
        public void Invoke(int start, int end)
        {
            for (int c = start; c < end; c++)
                Unsafe.AsRef<T>(_inner).Invoke(c * _chunk, Math.Min(_count, (c + 1) * _chunk));
        }
    }

    private static void Thunk<T>(void* state, int start, int end) where T : struct, IRangeBody
        => Unsafe.AsRef<T>(state).Invoke(start, end);

    private static void RunChunks(long gen)
    {
        // Chunks are claimed dynamically, but each chunk's range is a pure function of its index.
        while (true)
        {
            long v = Volatile.Read(ref _claim);
            if ((v >> 32) != gen) return;
            int c = (int)(v & 0xFFFFFFFF);
            // Parameters are stable while any chunk of this generation is unfinished.
            int chunks = _chunks, count = _count;
            if (c >= chunks) return;
            if (Interlocked.CompareExchange(ref _claim, v + 1, v) != v) continue;
            int start = (int)((long)c * count / chunks);
            int end = (int)((long)(c + 1) * count / chunks);
            try { _fn(_state, start, end); }
            finally { Interlocked.Decrement(ref _pending); }
        }
    }

    private static void EnsureWorkers(int needed)
    {
        if (_workers.Length >= needed) return;
        var grown = new Worker[needed];
        Array.Copy(_workers, grown, _workers.Length);
        for (int i = _workers.Length; i < needed; i++) grown[i] = new Worker(i);
        _workers = grown;
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);
        private long _seen;
        private int _sleeping;

        public Worker(int index)
        {
            var t = new Thread(Loop) { IsBackground = true, Name = $"BertSharp kernel {index + 1}" };
            _seen = Volatile.Read(ref _claim) >> 32;
            t.Start();
        }

        public void Wake()
        {
            if (Interlocked.Exchange(ref _sleeping, 0) == 1) _signal.Release();
        }

        private void Loop()
        {
            _inRegion = true;
            while (true)
            {
                // Spin for a while (cheap hand-off between back-to-back kernels), then sleep.
                long gen;
                int spins = 0;
                while ((gen = Volatile.Read(ref _claim) >> 32) == _seen)
                {
                    if (++spins < 20000) { Thread.SpinWait(20); continue; }
                    Volatile.Write(ref _sleeping, 1);
                    if ((Volatile.Read(ref _claim) >> 32) != _seen) { Volatile.Write(ref _sleeping, 0); continue; }
                    _signal.Wait(50);
                    Volatile.Write(ref _sleeping, 0);
                    spins = 0;
                }
                _seen = gen;
                RunChunks(gen);
            }
        }
    }
}
