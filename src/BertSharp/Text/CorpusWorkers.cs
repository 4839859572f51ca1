using System.Collections.Concurrent;

namespace BertSharp.Text;

/// <summary>
/// Read → process on all cores → consume in reading order, with bounded memory: one thread reads
/// documents into batches, <c>threads</c> workers process them, and the calling thread receives the
/// results in the order the batches were read (so output never depends on the thread count). At most
/// <c>3 × threads</c> batches are in flight at any time.
/// </summary>
internal static class CorpusWorkers
{
    public const int MaxBatchDocuments = 64;
    public const int MaxBatchChars = 1 << 18;

    /// <summary>Runs the workers; returns the worker states (one per thread) for callers that accumulate in them.</summary>
    public static List<TWorker> Run<TWorker, TResult>(IEnumerable<CorpusDocument> documents, int threads,
        Func<TWorker> createWorker, Func<TWorker, List<CorpusDocument>, TResult> process, Action<TResult> consume,
        CancellationToken cancel)
    {
        threads = Math.Max(1, threads);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var token = cts.Token;
        using var inflight = new SemaphoreSlim(threads * 3);
        using var input = new BlockingCollection<(long Seq, List<CorpusDocument> Batch)>(threads * 2);
        using var output = new BlockingCollection<(long Seq, TResult Result)>();
        var errors = new ConcurrentQueue<Exception>();
        var workers = new List<TWorker>();
        for (int t = 0; t < threads; t++) workers.Add(createWorker());

        var reader = new Thread(() =>
        {
            try
            {
                long seq = 0;
                var batch = new List<CorpusDocument>();
                long chars = 0;
                foreach (var doc in documents)
                {
                    batch.Add(doc);
                    chars += doc.Length;
                    if (batch.Count >= MaxBatchDocuments || chars >= MaxBatchChars)
                    {
                        inflight.Wait(token);
                        input.Add((seq++, batch), token);
                        batch = [];
                        chars = 0;
                    }
                }
                if (batch.Count > 0)
                {
                    inflight.Wait(token);
                    input.Add((seq, batch), token);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested) { }
            catch (Exception e) { errors.Enqueue(e); cts.Cancel(); }
            finally { input.CompleteAdding(); }
        }) { IsBackground = true, Name = "corpus reader" };

        int running = threads;
        var workerThreads = new List<Thread>();
        for (int t = 0; t < threads; t++)
        {
            var state = workers[t];
            var thread = new Thread(() =>
            {
                try
                {
                    foreach (var (seq, batch) in input.GetConsumingEnumerable(token))
                        output.Add((seq, process(state, batch)), token);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested) { }
                catch (Exception e) { errors.Enqueue(e); cts.Cancel(); }
                finally { if (Interlocked.Decrement(ref running) == 0) output.CompleteAdding(); }
            }) { IsBackground = true, Name = $"corpus worker {t}" };
            workerThreads.Add(thread);
        }
        reader.Start();
        foreach (var t in workerThreads) t.Start();

        var pending = new Dictionary<long, TResult>();
        long next = 0;
        try
        {
            foreach (var (seq, result) in output.GetConsumingEnumerable(token))
            {
                pending.Add(seq, result);
                while (pending.Remove(next, out var ready))
                {
                    consume(ready);
                    next++;
                    inflight.Release();
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested) { }
        catch (Exception e) { errors.Enqueue(e); cts.Cancel(); }
        finally
        {
            if (!errors.IsEmpty) cts.Cancel();
            reader.Join();
            foreach (var t in workerThreads) t.Join();
        }
        if (errors.TryDequeue(out var first))
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        cancel.ThrowIfCancellationRequested();
        return workers;
    }
}
