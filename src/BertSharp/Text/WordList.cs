namespace BertSharp.Text;

/// <summary>A reusable list of words stored back to back in one char buffer (no string per word).</summary>
public sealed class WordList
{
    private char[] _chars = new char[1024];
    private int _length;
    private int[] _starts = new int[256];
    private int[] _lengths = new int[256];

    /// <summary>Words in the list.</summary>
    public int Count { get; private set; }

    /// <summary>Word <paramref name="index"/> (valid until the list changes).</summary>
    public ReadOnlySpan<char> this[int index] => _chars.AsSpan(_starts[index], _lengths[index]);

    /// <summary>Empties the list, keeping its buffers.</summary>
    public void Clear()
    {
        Count = 0;
        _length = 0;
    }

    /// <summary>Appends a copy of <paramref name="word"/>.</summary>
    public void Add(ReadOnlySpan<char> word)
    {
        if (_length + word.Length > _chars.Length)
            Array.Resize(ref _chars, Math.Max(_chars.Length * 2, _length + word.Length));
        if (Count == _starts.Length)
        {
            Array.Resize(ref _starts, Count * 2);
            Array.Resize(ref _lengths, Count * 2);
        }
        word.CopyTo(_chars.AsSpan(_length));
        _starts[Count] = _length;
        _lengths[Count] = word.Length;
        _length += word.Length;
        Count++;
    }

    /// <summary>The words as strings.</summary>
    public List<string> ToList()
    {
        var list = new List<string>(Count);
        for (int i = 0; i < Count; i++) list.Add(new string(this[i]));
        return list;
    }
}
