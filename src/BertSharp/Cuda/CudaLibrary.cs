namespace BertSharp.Cuda;

/// <summary>Which native CUDA library a search is for.</summary>
public enum CudaLibrary
{
    /// <summary>The driver API, <c>libcuda.so.1</c> (installed with the NVIDIA driver, never with a toolkit).</summary>
    Driver,
    /// <summary>The runtime compiler, <c>libnvrtc.so.*</c>.</summary>
    Nvrtc,
    /// <summary>cuBLAS, <c>libcublas.so.*</c>.</summary>
    Cublas,
    /// <summary>cuBLASLt, <c>libcublasLt.so.*</c> (cuBLAS depends on it).</summary>
    CublasLt,
}
