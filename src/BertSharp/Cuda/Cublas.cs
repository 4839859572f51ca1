using System.Runtime.InteropServices;

namespace BertSharp.Cuda;

/// <summary>cuBLAS (<c>libcublas.so.*</c>, loaded after <c>libcublasLt.so.*</c>, which it needs): GEMMs with
/// float32 compute on float32 or bfloat16 operands (CUBLAS_COMPUTE_32F), or TF32 tensor-op compute on float32 operands
/// when the device's precision is tf32 (CUBLAS_COMPUTE_32F_FAST_TF32).</summary>
internal sealed unsafe class Cublas
{
    public const int OpN = 0, OpT = 1;
    public const int R32F = 0, R16BF = 14;
    public const int Compute32F = 68, Compute32FFastTf32 = 77;
    public const int GemmDefault = -1;
    public const int DefaultMath = 0, PedanticMath = 2;

    public readonly string Path, LtPath;
    public readonly delegate* unmanaged<nint*, int> cublasCreate;
    public readonly delegate* unmanaged<nint, int> cublasDestroy;
    public readonly delegate* unmanaged<nint, nint, int> cublasSetStream;
    public readonly delegate* unmanaged<nint, int, int> cublasSetMathMode;
    public readonly delegate* unmanaged<nint, int*, int> cublasGetVersion;
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int> cublasGemmEx;
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, long, void*, int, int, long, void*, void*, int, int, long, int, int, int, int> cublasGemmStridedBatchedEx;
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int, int> cublasGemmBatchedEx;
    public readonly nuint LtVersion;

    public Cublas(nint handle, string path, nint lt, string ltPath)
    {
        (Path, LtPath) = (path, ltPath);
        nint Get(string name) => NativeLibrary.TryGetExport(handle, name, out var p) ? p : throw new CudaException($"cuBLAS {path} lacks {name}");
        cublasCreate = (delegate* unmanaged<nint*, int>)Get("cublasCreate_v2");
        cublasDestroy = (delegate* unmanaged<nint, int>)Get("cublasDestroy_v2");
        cublasSetStream = (delegate* unmanaged<nint, nint, int>)Get("cublasSetStream_v2");
        cublasSetMathMode = (delegate* unmanaged<nint, int, int>)Get("cublasSetMathMode");
        cublasGetVersion = (delegate* unmanaged<nint, int*, int>)Get("cublasGetVersion_v2");
        cublasGemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int>)Get("cublasGemmEx");
        cublasGemmStridedBatchedEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, long, void*, int, int, long, void*, void*, int, int, long, int, int, int, int>)Get("cublasGemmStridedBatchedEx");
        cublasGemmBatchedEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, int, int>)Get("cublasGemmBatchedEx");
        if (lt != 0 && NativeLibrary.TryGetExport(lt, "cublasLtGetVersion", out var v))
            LtVersion = ((delegate* unmanaged<nuint>)v)();
    }

    public static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException($"cuBLAS {call} failed: {StatusName(status)}");
    }

    /// <summary>cublasStatus_t's name.</summary>
    public static string StatusName(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cuBLAS status {status}",
    };
}
