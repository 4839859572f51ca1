using System.Runtime.CompilerServices;

namespace BertSharp.Tensors;

/// <summary>Argument checks shared by the kernels: all run before any memory is touched.</summary>
internal static class Check
{
    public static void NonNegative(int value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be non-negative, got {value}");
    }

    // Messages are built only on failure: a passing check costs no allocation.
    public static void Matrix(int length, int rows, int cols, string name)
    {
        if (length < (long)rows * cols) throw new ArgumentException($"{name}: need {(long)rows * cols} floats for {rows}x{cols}, got {length}", name);
    }

    public static void Tensor3(int length, int a, int b, int c, string name)
    {
        if (length < (long)a * b * c) throw new ArgumentException($"{name}: need {(long)a * b * c} floats for {a}x{b}x{c}, got {length}", name);
    }

    public static void Count(int length, int need, string name, string unit)
    {
        if (length < need) throw new ArgumentException($"{name}: need {need} values for {need} {unit}, got {length}", name);
    }

    /// <summary>Same check; an interpolated description (<c>$"{rows}x{cols}"</c>) is only formatted when the
    /// check fails, so that a passing check allocates nothing (training steps must not allocate).</summary>
    public static void Length(int length, long need, string name,
        [InterpolatedStringHandlerArgument("length", "need")] ref LazyText what)
    {
        if (length < need) throw new ArgumentException($"{name}: need {need} floats for {what.ToStringAndClear()}, got {length}", name);
    }

    public static void SameLength(int length, int need, string name, string other)
    {
        if (length != need) throw new ArgumentException($"{name}: length {length} must equal {other}'s length {need}", name);
    }
}
