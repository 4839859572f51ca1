namespace BertSharp.Text;

/// <summary>How a reader's raw text marks its structure, i.e. how <see cref="TextCleaner"/> reads newlines.</summary>
public enum TextKind
{
    /// <summary>An IMDB review: one line of text with <c>&lt;br /&gt;</c> for breaks and HTML entities.</summary>
    ImdbReview,
    /// <summary>Every line is a unit (Google's one-sentence-per-line format): each newline is a hard boundary.</summary>
    Lines,
    /// <summary>Prose: a single newline is a soft wrap (a space), a blank line separates paragraphs.</summary>
    Paragraphs,
}
