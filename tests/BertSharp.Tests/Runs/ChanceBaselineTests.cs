using BertSharp.Data;
using BertSharp.Runs;

namespace BertSharp.Tests.Runs;

public class ChanceBaselineTests
{
    /// <summary>Two validation batches of capacity 2, the second partial (1 row) with the first batch's entries
    /// still in its arrays beyond that row.</summary>
    private sealed class PartialValidation : ITrainingData
    {
        private readonly BertBatch _b = new(2, 8, 2);
        public BertBatch NextTrainingBatch() => throw new NotSupportedException();
        public DataPosition Position => default;
        public void Seek(DataPosition position) { }
        public int ValidationBatchCount => 2;
        public BertBatch ValidationBatch(int index)
        {
            if (index == 0)
            {
                _b.SetShape(2, 8);
                _b.MaskedLmIds.AsSpan().Fill(7);   // 4 real predictions of token 7
                _b.MaskedLmWeights.AsSpan().Fill(1f);
                _b.NextSentenceLabels.AsSpan().Fill(1);
            }
            else
            {
                _b.SetShape(1, 8);                 // one row: predictions 9, 9; NSP label 0; row 2 is stale
                _b.MaskedLmIds[0] = _b.MaskedLmIds[1] = 9;
                _b.NextSentenceLabels[0] = 0;
            }
            return _b;
        }
    }

    [Fact]
    public void Chance_levels_count_only_the_rows_of_each_batch()
    {
        var c = PretrainingRun.ChanceBaselines(new PartialValidation());
        Assert.Equal(4.0 / 6, c.MostFrequentToken, 12);   // token 7 four times of 6 real predictions (not 6 of 8)
        Assert.Equal(2.0 / 3, c.NspMajority, 12);         // 2 random of 3 pairs
    }
}
