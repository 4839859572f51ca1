using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>The checkpoint a run starts from (--init-from): its folder, weights, vocabulary, casing and the preset
/// its own run used (if known).</summary>
public sealed record InitCheckpoint(string Folder, BertParameters Parameters, Vocabulary Vocabulary, bool LowerCase, string? Preset);
