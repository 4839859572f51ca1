namespace BertSharp.Tensors;

/// <summary>One call a <see cref="ProfilingDevice"/> timed.</summary>
/// <param name="Section">The section of the step it ran in (<see cref="DeviceProfile.Enter"/>: "forward", "backward",
/// "optimizer", ...; empty before any).</param>
/// <param name="Backward">Whether that section was entered as a backward pass (its layers run in reverse order).</param>
/// <param name="Kernel">The <see cref="Device"/> method: "Sgemm", "LayerNormForward", "CopyToDevice", ...</param>
/// <param name="Part">The part of the model the call works on: as recorded, what <see cref="DeviceProfile.PartOf"/> said of
/// its operands (null: nothing); after <see cref="DeviceProfile.Attributed"/>, the part it is counted with.</param>
/// <param name="Seconds">Wall-clock time of the call, the inner device synchronised before and after.</param>
public readonly record struct KernelCall(string Section, bool Backward, string Kernel, string? Part, double Seconds);
