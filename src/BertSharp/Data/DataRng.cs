using System.Numerics;
using System.Runtime.CompilerServices;

namespace BertSharp.Data;

/// <summary>
/// The pretraining items' random numbers: xoshiro256** streams seeded through SplitMix64 from a key
/// such as (seed, copy, document). Every stream is a pure function of its key, so items are identical
/// on any machine, .NET version and thread count (System.Random promises none of that).
/// </summary>
public struct DataRng
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>A stream from an explicit state (tests compare against the published algorithm).</summary>
    internal DataRng(ulong s0, ulong s1, ulong s2, ulong s3) => (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);

    /// <summary>Stream tags, so the planning, masking, shuffling and splitting streams never coincide.</summary>
    public const ulong TagPlan = 0x504C414E, TagMask = 0x4D41534B, TagShuffle = 0x53485546, TagSplit = 0x53504C54;

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A 64-bit hash of a key of up to four words (chained mixing, order-sensitive).</summary>
    public static ulong Hash(ulong a, ulong b, ulong c = 0, ulong d = 0)
    {
        // Distinct odd constants per word keep (a, b) and (b, a) apart.
        ulong h = Mix(a + 0x9E3779B97F4A7C15UL);
        h = Mix(h ^ (b + 0x3C6EF372FE94F82AUL));
        h = Mix(h ^ (c + 0xDAA66D2C7DDF743FUL));
        return Mix(h ^ (d + 0x78DDE6E5FD29F054UL));
    }

    /// <summary>A stream keyed by (tag, seed, a, b, c).</summary>
    public static DataRng Create(ulong tag, ulong seed, ulong a, ulong b = 0, ulong c = 0)
    {
        var rng = new DataRng();
        rng.Reseed(Hash(seed ^ (tag << 32), a, b, c));
        return rng;
    }

    /// <summary>Fills the 256-bit state from one 64-bit seed with SplitMix64 (never all zero).</summary>
    public void Reseed(ulong seed)
    {
        const ulong Gamma = 0x9E3779B97F4A7C15UL;
        _s0 = Mix(seed += Gamma);
        _s1 = Mix(seed += Gamma);
        _s2 = Mix(seed += Gamma);
        _s3 = Mix(seed + Gamma);
    }

    /// <summary>The next 64 uniformly random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits (Python's random() has the same resolution).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextInt(int n)
    {
        ulong range = (ulong)n;
        ulong x = NextUInt64() >> 32;
        ulong m = x * range;
        uint low = (uint)m;
        if (low < (uint)range)
        {
            uint threshold = (uint)(0x1_0000_0000UL % range);
            while (low < threshold)
            {
                x = NextUInt64() >> 32;
                m = x * range;
                low = (uint)m;
            }
        }
        return (int)(m >> 32);
    }

    /// <summary>Uniform integer in [lo, hi], both inclusive, like Python's randint.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextInclusive(int lo, int hi) => lo + NextInt(hi - lo + 1);
}
