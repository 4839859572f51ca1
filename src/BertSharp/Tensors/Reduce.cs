using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>Reductions for gradient clipping: Σx² in double over fixed chunks summed in chunk order, so
/// the result is the same bits for any thread count.</summary>
public static unsafe class Reduce
{
    private const int Chunk = 16384;

    /// <summary>Σx² accumulated in double over fixed chunks, the same bits for any thread count.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return 0;
        int chunks = (x.Length + Chunk - 1) / Chunk;
        double* part = Scratch.Doubles(chunks);
        fixed (float* px = x)
        {
            var body = new Body { X = px, N = x.Length, Part = part };
            KernelLoop.For(chunks, 4, ref body);
        }
        double s = 0;
        for (int c = 0; c < chunks; c++) s += part[c];
        return s;
    }

    /// <summary>√Σx², e.g. the global gradient norm before clipping.</summary>
    public static double L2Norm(ReadOnlySpan<float> x) => Math.Sqrt(SumOfSquares(x));

    private struct Body : IRangeBody
    {
        public float* X;
        public int N;
        public double* Part;

        public void Invoke(int start, int end)
        {
            for (int c = start; c < end; c++)
            {
                int i = c * Chunk, e = Math.Min(N, i + Chunk);
                // Squares of floats are exact in double; accumulate in double lanes.
                var a0 = Vector256<double>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                for (; i <= e - 16; i += 16)
                {
                    var v0 = Vector256.Load(X + i); var v1 = Vector256.Load(X + i + 8);
                    var l0 = Vector256.WidenLower(v0); var h0 = Vector256.WidenUpper(v0);
                    var l1 = Vector256.WidenLower(v1); var h1 = Vector256.WidenUpper(v1);
                    a0 = Vector256.FusedMultiplyAdd(l0, l0, a0); a1 = Vector256.FusedMultiplyAdd(h0, h0, a1);
                    a2 = Vector256.FusedMultiplyAdd(l1, l1, a2); a3 = Vector256.FusedMultiplyAdd(h1, h1, a3);
                }
                double s = Vector256.Sum((a0 + a1) + (a2 + a3));
                for (; i < e; i++) s += (double)X[i] * X[i];
                Part[c] = s;
            }
        }
    }
}
