using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class WordTableTests
{
    /// <summary>The table against a plain Dictionary twin: same indices for the same words through growth and clears.</summary>
    [Fact]
    public void BehavesLikeADictionary()
    {
        var rng = new Random(3);
        var table = new WordTable(4);
        var twin = new Dictionary<string, int>(StringComparer.Ordinal);
        string[] alphabet = ["a", "b", "é", "😀", "中", "\u0000", "##"];
        for (int step = 0; step < 20000; step++)
        {
            if (step == 12000)
            {
                table.Clear();
                twin.Clear();
                Assert.Equal(-1, table.Find("a"));
            }
            int len = rng.Next(0, 9);
            var word = string.Concat(Enumerable.Range(0, len).Select(_ => alphabet[rng.Next(alphabet.Length)]));
            int found = table.Find(word);
            Assert.Equal(twin.TryGetValue(word, out int expected) ? expected : -1, found);
            int index = table.GetOrAdd(word, out bool added);
            Assert.Equal(found < 0, added);
            if (added) twin[word] = index;
            Assert.Equal(twin[word], index);
            Assert.Equal(word, new string(table[index]));
            Assert.Equal(twin.Count, table.Count);
        }
    }
}
