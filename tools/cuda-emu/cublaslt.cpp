// libcublasLt.so.13 for the CUDA emulator: what BertSharp asks of cuBLASLt today (its version, and a handle).
// cuBLAS itself (cublas.cpp) does the matrix products.
#include <stddef.h>
#define API extern "C" __attribute__((visibility("default")))
API size_t cublasLtGetVersion() { return 130002; }
API size_t cublasLtGetCudartVersion() { return 13000; }
API int cublasLtCreate(void** h) { if (!h) return 7; static int token; *h = &token; return 0; }
API int cublasLtDestroy(void* h) { return h ? 0 : 1; }
