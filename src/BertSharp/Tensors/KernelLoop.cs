using System.Runtime.CompilerServices;

namespace BertSharp.Tensors;

/// <summary>
/// The kernels' loop over independent items on top of <see cref="KernelParallel"/>: the same
/// (count, minChunk) contract as <see cref="KernelParallel.For{T}"/>, but the items are handed out in
/// small grains claimed dynamically, so a thread that the OS preempts (the machine is shared) holds up
/// only its current grain, not half of the work. Which thread runs an item never changes its result:
/// every kernel computes each item by the same code whatever the split.
/// </summary>
internal static unsafe class KernelLoop
{
    public static void For<T>(int count, int minChunk, ref T body) where T : struct, IRangeBody
    {
        if (count <= 0) return;
        int threads = KernelParallel.ThreadCount;
        minChunk = Math.Max(1, minChunk);
        if (threads <= 1 || count < 2 * minChunk)
        {
            body.Invoke(0, count);
            return;
        }
        int participants = Math.Min(threads, count / minChunk);
        int grain = Math.Max(minChunk, (int)((count + (long)participants * 8 - 1) / ((long)participants * 8)));
        int next = 0;
        var claimer = new Claimer<T> { Inner = Unsafe.AsPointer(ref body), Next = &next, Count = count, Grain = grain };
        KernelParallel.For(participants, 1, ref claimer);
    }

    private struct Claimer<T> : IRangeBody where T : struct, IRangeBody
    {
        public void* Inner;
        public int* Next;
        public int Count, Grain;

        public void Invoke(int start, int end)
        {
            // Each participant index claims grains until none are left.
            for (int p = start; p < end; p++)
            {
                while (true)
                {
                    int s = Interlocked.Add(ref *Next, Grain) - Grain;
                    if (s >= Count) break;
                    Unsafe.AsRef<T>(Inner).Invoke(s, (int)Math.Min(Count, (long)s + Grain));
                }
            }
        }
    }
}
