using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BertSharp.Text;

/// <summary>
/// Words (char spans) → dense indices 0..Count-1, open addressing over flat arrays with the words
/// stored back to back in one char arena. Several times faster than Dictionary&lt;string, T&gt; with a span
/// lookup on the tokenizer's hot path (no randomized hashing, no object per word, fewer cache misses).
/// Not thread-safe.
/// </summary>
internal sealed class WordTable
{
    private int[] _buckets;          // entry index + 1; 0 is empty
    private int[] _starts;
    private int[] _lengths;
    private uint[] _hashes;
    private char[] _chars;
    private int _charCount;

    public WordTable(int capacity = 1024)
    {
        int buckets = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity * 2));
        _buckets = new int[buckets];
        _starts = new int[capacity];
        _lengths = new int[capacity];
        _hashes = new uint[capacity];
        _chars = new char[capacity * 8];
    }

    public int Count { get; private set; }
    public int CharCount => _charCount;

    public ReadOnlySpan<char> this[int index] => _chars.AsSpan(_starts[index], _lengths[index]);

    public void Clear()
    {
        Array.Clear(_buckets);
        Count = 0;
        _charCount = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Hash(ReadOnlySpan<char> s)
    {
        ulong h = (ulong)s.Length * 0x9E3779B97F4A7C15UL;
        var bytes = MemoryMarshal.AsBytes(s);
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
            h = BitOperations.RotateLeft((h ^ MemoryMarshal.Read<ulong>(bytes[i..])) * 0x9E3779B97F4A7C15UL, 31);
        if (i < bytes.Length)
        {
            ulong tail = 0;
            for (int j = bytes.Length - 1; j >= i; j--) tail = (tail << 8) | bytes[j];
            h = BitOperations.RotateLeft((h ^ tail) * 0x9E3779B97F4A7C15UL, 31);
        }
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        return (uint)h;
    }

    /// <summary>The index of <paramref name="word"/>, or −1.</summary>
    public int Find(ReadOnlySpan<char> word)
    {
        uint h = Hash(word);
        int mask = _buckets.Length - 1;
        for (int b = (int)h & mask; ; b = (b + 1) & mask)
        {
            int e = _buckets[b] - 1;
            if (e < 0) return -1;
            if (_hashes[e] == h && _chars.AsSpan(_starts[e], _lengths[e]).SequenceEqual(word)) return e;
        }
    }

    /// <summary>The index of <paramref name="word"/>, adding it when absent.</summary>
    public int GetOrAdd(ReadOnlySpan<char> word, out bool added)
    {
        uint h = Hash(word);
        int mask = _buckets.Length - 1;
        int b = (int)h & mask;
        for (; ; b = (b + 1) & mask)
        {
            int e = _buckets[b] - 1;
            if (e < 0) break;
            if (_hashes[e] == h && _chars.AsSpan(_starts[e], _lengths[e]).SequenceEqual(word))
            {
                added = false;
                return e;
            }
        }
        added = true;
        int index = Count;
        if (index == _starts.Length)
        {
            Array.Resize(ref _starts, index * 2);
            Array.Resize(ref _lengths, index * 2);
            Array.Resize(ref _hashes, index * 2);
        }
        if (_charCount + word.Length > _chars.Length)
            Array.Resize(ref _chars, Math.Max(_chars.Length * 2, _charCount + word.Length));
        word.CopyTo(_chars.AsSpan(_charCount));
        _starts[index] = _charCount;
        _lengths[index] = word.Length;
        _hashes[index] = h;
        _charCount += word.Length;
        _buckets[b] = index + 1;
        Count++;
        if (Count * 2 > _buckets.Length) Grow();
        return index;
    }

    private void Grow()
    {
        _buckets = new int[_buckets.Length * 2];
        int mask = _buckets.Length - 1;
        for (int e = 0; e < Count; e++)
        {
            int b = (int)_hashes[e] & mask;
            while (_buckets[b] != 0) b = (b + 1) & mask;
            _buckets[b] = e + 1;
        }
    }
}
