namespace BertSharp.Tensors;

/// <summary>
/// A tiny, fully specified random generator (SplitMix64, Steele et al. 2014) whose whole state is one
/// ulong, so it is identical on every platform and .NET version and trivially saved in a checkpoint.
/// System.Random's algorithm is not part of its contract, so it is not used for anything reproducible.
/// </summary>
public struct SplitMix64
{
    /// <summary>The whole generator state: save it and assign it back to continue the same sequence.</summary>
    public ulong State;

    /// <summary>A generator whose state starts at <paramref name="seed"/> (any value, 0 included).</summary>
    public SplitMix64(ulong seed) => State = seed;

    /// <summary>The next 64 uniformly random bits; advances <see cref="State"/>.</summary>
    public ulong NextUInt64()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n) (n &gt; 0), by rejection so that it is unbiased.</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        ulong bound = (ulong)n, limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return (int)(r % bound);
    }

    /// <summary>Standard normal by Box-Muller (one of the pair, so the state advances by exactly two draws).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Standard normal redrawn until |x| &lt;= bound.</summary>
    public double NextTruncatedNormal(double bound)
    {
        double x;
        do x = NextGaussian(); while (Math.Abs(x) > bound);
        return x;
    }
}
