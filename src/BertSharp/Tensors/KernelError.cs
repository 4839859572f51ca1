
namespace BertSharp.Tensors;

/// <summary>One kernel's agreement between two devices.</summary>
/// <param name="Kernel">The Device method (and variant).</param>
/// <param name="Shape">The awkward shape it ran on.</param>
/// <param name="MaxAbs">Largest |candidate − reference| over every output.</param>
/// <param name="MaxRel">Largest |candidate − reference| / max(|reference|, 1e-3).</param>
/// <param name="Tolerance">Allowed |difference| / max(1, |reference|) (0: bit for bit).</param>
/// <param name="Passed">Within tolerance, and no error.</param>
/// <param name="Error">The exception's message when the kernel threw, else null.</param>
/// <param name="Bf16Ulps">Units in the last place of bfloat16 allowed on top of <paramref name="Tolerance"/> for outputs
/// stored in bfloat16 (0: none, or no such output).</param>
public sealed record KernelError(string Kernel, string Shape, double MaxAbs, double MaxRel, double Tolerance, bool Passed, string? Error,
    double Bf16Ulps = 0);
