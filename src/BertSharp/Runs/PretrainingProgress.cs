namespace BertSharp.Runs;

/// <summary>What a <see cref="PretrainingRun"/> reports outside training: a log line of a stage
/// (<paramref name="Transient"/> false), or a progress update that the next one replaces (true).</summary>
/// <param name="Stage">vocabulary, counting words, tokenizing, items, model, training, imdb</param>
/// <param name="Message">the line or the progress text</param>
/// <param name="Fraction">share done, when known</param>
/// <param name="Transient">a progress update rather than a line to keep</param>
public readonly record struct PretrainingProgress(string Stage, string Message, double? Fraction, bool Transient);
