namespace BertSharp.Cuda;

/// <summary>A failed CUDA, NVRTC or cuBLAS call: one line naming the call and the error. The GPU, its driver or
/// its libraries are not what the program needs (or it ran out of GPU memory): <see cref="ErrorKind.BadInput"/>
/// (the command line's "bad input" exit code), since the environment, not the program, is wrong.</summary>
public sealed class CudaException(string message) : BertSharpException(message, ErrorKind.BadInput);
