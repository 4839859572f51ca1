namespace BertSharp.Model;

/// <summary>A contiguous run of the flat buffer whose tensors share a group and a decay flag.</summary>
public readonly record struct ParameterRegion(ParameterGroups Group, bool Decay, int Offset, int Length);
