using BertSharp.Text;

namespace BertSharp.Tests.Text;

public class SentenceSplitterTests
{
    [Theory]
    [InlineData("This is good. That is bad.", "This is good.|That is bad.")]
    [InlineData("Really?! Yes!!! No.", "Really?!|Yes!!!|No.")]
    [InlineData("wow! what a film", "wow!|what a film")]
    [InlineData("it was ok. the acting was bad", "it was ok.|the acting was bad")]
    // Ellipses: a boundary before a capital, a pause before a lowercase word.
    [InlineData("I waited... and waited... Then it ended.", "I waited... and waited...|Then it ended.")]
    [InlineData("Hmm\u2026 Maybe not.", "Hmm\u2026|Maybe not.")]
    // Closing quotes and brackets stay with the sentence they close.
    [InlineData("He said \"Go away!\" Then he left.", "He said \"Go away!\"|Then he left.")]
    [InlineData("(It was awful.) The end.", "(It was awful.)|The end.")]
    [InlineData("«Magnifique!» Indeed.", "«Magnifique!»|Indeed.")]
    // Abbreviations and titles.
    [InlineData("Mr. Smith met Dr. Jones vs. Prof. Lee.", "Mr. Smith met Dr. Jones vs. Prof. Lee.")]
    [InlineData("Some films, e.g. this one, i.e. bad ones, fail.", "Some films, e.g. this one, i.e. bad ones, fail.")]
    [InlineData("It was made in the U.S. by a studio.", "It was made in the U.S. by a studio.")]
    [InlineData("Guns, cars, etc. are here. Etc. The end.", "Guns, cars, etc. are here.|Etc.|The end.")]
    [InlineData("Explosions etc. The plot is thin.", "Explosions etc.|The plot is thin.")]
    // Initials, decimals, times, list numbers.
    [InlineData("J. R. R. Tolkien wrote it.", "J. R. R. Tolkien wrote it.")]
    [InlineData("George W. Bush appears.", "George W. Bush appears.")]
    [InlineData("I rate it 7.5 out of 10. Good.", "I rate it 7.5 out of 10.|Good.")]
    [InlineData("It starts at 10.30 p.m. and ends late. Ugh.", "It starts at 10.30 p.m. and ends late.|Ugh.")]
    [InlineData("Meet at 9 a.m. Tomorrow we go.", "Meet at 9 a.m.|Tomorrow we go.")]
    [InlineData("1. The plot. 2. The cast.", "1. The plot.|2. The cast.")]
    [InlineData("It cost $3.50. Cheap!", "It cost $3.50.|Cheap!")]
    // Missing space after a terminator before a capitalised word.
    [InlineData("Great film!The acting was superb.", "Great film!|The acting was superb.")]
    [InlineData("bad movie.The end", "bad movie.|The end")]
    [InlineData("Visit example.com or Node.Js now", "Visit example.com or Node.Js now")]
    // Paragraph breaks are hard boundaries, even mid-sentence.
    [InlineData("First part\nsecond part", "First part|second part")]
    [InlineData("One.\n\nTwo", "One.|Two")]
    // CJK full stops need no space.
    [InlineData("今日は晴れ。明日は雨！本当？", "今日は晴れ。|明日は雨！|本当？")]
    // Degenerate inputs.
    [InlineData("", "")]
    [InlineData("   ", "")]
    [InlineData("...", "...")]
    [InlineData("No terminator at all", "No terminator at all")]
    public void SplitsTrickyCases(string text, string expected)
    {
        var want = expected.Length == 0 ? [] : expected.Split('|');
        Assert.Equal(want, SentenceSplitter.Split(text));
    }

    [Fact]
    public void RangesAreTrimmedAndNonEmpty()
    {
        var ranges = new List<Range>();
        const string text = "  Hello there.   How are you?  \n\n  Fine.  ";
        SentenceSplitter.Split(text, ranges);
        Assert.Equal(["Hello there.", "How are you?", "Fine."], ranges.Select(r => text[r]));
    }
}
