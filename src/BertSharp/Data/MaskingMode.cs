namespace BertSharp.Data;

/// <summary>Static masking: Google's <c>dupe_factor</c> fixed copies, epoch e reusing copy e mod DupeFactor.
/// Dynamic masking (RoBERTa): fresh pairs and masks every epoch.</summary>
public enum MaskingMode
{
    /// <summary>DupeFactor fixed copies of the pairs and masks, reused cyclically across epochs.</summary>
    Static,
    /// <summary>New pairs and masks every epoch.</summary>
    Dynamic,
}
