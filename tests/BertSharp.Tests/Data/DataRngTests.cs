using BertSharp.Tensors;
using BertSharp.Data;

namespace BertSharp.Tests.Data;

public class DataRngTests
{
    // Plain twin of xoshiro256** as published by Blackman and Vigna (xoshiro256starstar.c).
    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong ReferenceNext(ulong[] s)
    {
        ulong result = Rotl(s[1] * 5, 7) * 9;
        ulong t = s[1] << 17;
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
        s[2] ^= t;
        s[3] = Rotl(s[3], 45);
        return result;
    }

    [Fact]
    public void MatchesPublishedXoshiro256StarStar()
    {
        var state = new ulong[] { 1, 2, 3, 4 };
        var rng = new DataRng(1, 2, 3, 4);
        Assert.Equal(11520UL, rng.NextUInt64()); // rotl(2 * 5, 7) * 9
        ReferenceNext(state);
        for (int i = 0; i < 1000; i++) Assert.Equal(ReferenceNext(state), rng.NextUInt64());
    }

    [Fact]
    public void SplitMix64FinaliserMatchesPublishedValue()
    {
        // First output of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        Assert.Equal(0xE220A8397B1DCDAFUL, DataRng.Mix(0x9E3779B97F4A7C15UL));
    }

    [Fact]
    public void StreamsArePureFunctionsOfTheirKey()
    {
        var a = DataRng.Create(DataRng.TagPlan, 7, 1, 2);
        var b = DataRng.Create(DataRng.TagPlan, 7, 1, 2);
        var c = DataRng.Create(DataRng.TagPlan, 7, 2, 1);
        var d = DataRng.Create(DataRng.TagMask, 7, 1, 2);
        ulong x = a.NextUInt64();
        Assert.Equal(x, b.NextUInt64());
        Assert.NotEqual(x, c.NextUInt64());
        Assert.NotEqual(x, d.NextUInt64());
    }

    [Fact]
    public void NextIntIsUniformAndInRange()
    {
        var rng = DataRng.Create(DataRng.TagPlan, 3, 0);
        var counts = new int[7];
        const int N = 70_000;
        for (int i = 0; i < N; i++) counts[rng.NextInt(7)]++;
        foreach (int c in counts) Assert.InRange(c, N / 7 * 0.95, N / 7 * 1.05);
        for (int i = 0; i < 10_000; i++)
        {
            int v = rng.NextInclusive(2, 5);
            Assert.InRange(v, 2, 5);
            double u = rng.NextDouble();
            Assert.True(u >= 0 && u < 1);
        }
    }
}
