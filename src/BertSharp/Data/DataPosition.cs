namespace BertSharp.Data;

/// <summary>Where a data source stands; saved in trainer_state.json so a resumed run reads the same next batch.</summary>
public readonly record struct DataPosition(long Epoch, long Index);
