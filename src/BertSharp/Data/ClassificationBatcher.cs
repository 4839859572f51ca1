using BertSharp.Text;

namespace BertSharp.Data;

/// <summary>Fills a <see cref="BertBatch"/> from examples: [CLS] tokens [SEP], padded with [PAD] to the longest in the batch.</summary>
public sealed class ClassificationBatcher
{
    private readonly int _cls, _sep, _pad;
    /// <summary>The batch <see cref="Fill"/> writes (reused).</summary>
    public BertBatch Batch { get; }
    /// <summary>Most texts per batch.</summary>
    public int MaxBatch => Batch.BatchCapacity;
    /// <summary>Longest row, [CLS] and [SEP] included.</summary>
    public int MaxLength => Batch.MaxSeqLength;

    /// <summary>A batcher writing <paramref name="vocab"/>'s [CLS], [SEP] and [PAD] around texts, for up to
    /// <paramref name="maxBatch"/> texts of at most <paramref name="maxLength"/> tokens each (specials included);
    /// with <paramref name="teacherLogitsPerRow"/> &gt; 0 the examples' <see cref="LabelledExample.TeacherLogits"/> go into
    /// the batch too (every example must carry that many).</summary>
    public ClassificationBatcher(Vocabulary vocab, int maxBatch, int maxLength, int teacherLogitsPerRow = 0)
    {
        (_cls, _sep, _pad) = (vocab.SpecialIds.Cls, vocab.SpecialIds.Sep, vocab.SpecialIds.Pad);
        Batch = new BertBatch(maxBatch, maxLength, teacherLogitsPerRow: teacherLogitsPerRow);
    }

    /// <summary>Lays out examples[order[0..]] into <see cref="Batch"/>, one row each; returns the sequence length used.</summary>
    public int Fill(IReadOnlyList<LabelledExample> examples, ReadOnlySpan<int> order)
    {
        int count = order.Length;
        int seq = 2;
        for (int b = 0; b < count; b++) seq = Math.Max(seq, examples[order[b]].Tokens.Length + 2);
        if (seq > MaxLength) throw new ArgumentException($"an example has {seq} tokens, more than the batcher's {MaxLength}");
        Batch.SetShape(count, seq);
        for (int b = 0; b < count; b++)
        {
            var ex = examples[order[b]];
            var row = Batch.InputIds.AsSpan(b * seq, seq);
            var mask = Batch.AttentionMask.AsSpan(b * seq, seq);
            row[0] = _cls;
            ex.Tokens.CopyTo(row[1..]);
            row[ex.Tokens.Length + 1] = _sep;
            row[(ex.Tokens.Length + 2)..].Fill(_pad);
            mask[..(ex.Tokens.Length + 2)].Fill(1);
            mask[(ex.Tokens.Length + 2)..].Clear();
            Batch.Labels[b] = ex.Label;
            if (Batch.TeacherLogitsPerRow > 0)
            {
                int l = Batch.TeacherLogitsPerRow;
                if (ex.TeacherLogits is not { } t || t.Length != l)
                    throw new ArgumentException($"an example has {ex.TeacherLogits?.Length ?? 0} teacher logits, the batch holds {l} per row");
                t.CopyTo(Batch.TeacherLogits.AsSpan(b * l, l));
            }
        }
        Batch.TokenTypeIds.AsSpan(0, count * seq).Clear();
        return seq;
    }
}
