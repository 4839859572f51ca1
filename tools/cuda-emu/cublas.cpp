// libcublas.so.13 for the CUDA emulator: the GEMMs BertSharp calls (cublasGemmEx, cublasGemmStridedBatchedEx,
// cublasGemmBatchedEx, and the Sgemm family), with cuBLAS's column-major semantics and its argument checks
// (CUBLAS_STATUS_INVALID_VALUE for what cuBLAS rejects, NOT_SUPPORTED for type combinations it does not offer,
// ARCH_MISMATCH for bfloat16 below compute capability 8.0). Operands must be device memory of the emulated driver
// and inside their allocations (checked before the call is queued; pointer arrays when it runs).
// Arithmetic: inputs converted to float32 (bf16/fp16 exactly; fp32 rounded to TF32 (nearest, ties away) for
// CUBLAS_COMPUTE_32F_FAST_TF32 or TF32 math mode, to bf16/fp16 (nearest even) for FAST_16BF/FAST_16F), products
// exact for bf16/tf32 inputs, sums in float32 (eight interleaved partial sums added in a fixed order: deterministic,
// not the GPU's order), C = alpha·sum + beta·C in float32 (C not read when beta is 0), rounded to C's type.
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))

enum { OK = 0, NOT_INITIALIZED = 1, ALLOC_FAILED = 3, INVALID_VALUE = 7, ARCH_MISMATCH = 8, EXECUTION_FAILED = 13, INTERNAL_ERROR = 14, NOT_SUPPORTED = 15 };
enum { R_32F = 0, R_64F = 1, R_16F = 2, R_8I = 3, R_16BF = 14 };
enum { C16F = 64, C16F_P = 65, C32F = 68, C32F_P = 69, C64F = 70, C64F_P = 71, C32I = 72, C32I_P = 73, C32F_FAST_16F = 74, C32F_FAST_16BF = 75, C32F_FAST_TF32 = 77 };
enum { OP_N = 0, OP_T = 1, OP_C = 2 };

extern "C" int bsemu_device_range(unsigned long long p, size_t bytes, char* why, size_t whyLen);
extern "C" int bsemu_enqueue(void (*fn)(void*), void* arg, void (*dispose)(void*));
extern "C" int bsemu_fail(int code, const char* who, const char* detail);
extern "C" void bsemu_report(int code, const char* who, const char* detail);

struct Handle {
    void* stream = nullptr;
    int mathMode = 0;
    int pointerMode = 0; // 0 host, 1 device
};
static std::mutex g_mu;
static std::set<Handle*> g_handles;

static bool valid(Handle* h) {
    std::lock_guard<std::mutex> l(g_mu);
    return h && g_handles.count(h);
}

API int cublasCreate_v2(Handle** h) {
    if (!h) return INVALID_VALUE;
    std::lock_guard<std::mutex> l(g_mu);
    *h = new Handle();
    g_handles.insert(*h);
    return OK;
}
API int cublasDestroy_v2(Handle* h) {
    std::lock_guard<std::mutex> l(g_mu);
    if (!h || !g_handles.erase(h)) return NOT_INITIALIZED;
    delete h;
    return OK;
}
API int cublasSetStream_v2(Handle* h, void* s) { if (!valid(h)) return NOT_INITIALIZED; h->stream = s; return OK; }
API int cublasGetStream_v2(Handle* h, void** s) { if (!valid(h)) return NOT_INITIALIZED; if (!s) return INVALID_VALUE; *s = h->stream; return OK; }
API int cublasSetMathMode(Handle* h, int mode) {
    if (!valid(h)) return NOT_INITIALIZED;
    int base = mode & ~16;
    if (base < 0 || base > 3 || (mode & ~(16 | 3))) return INVALID_VALUE;
    h->mathMode = mode;
    return OK;
}
API int cublasGetMathMode(Handle* h, int* mode) { if (!valid(h)) return NOT_INITIALIZED; if (!mode) return INVALID_VALUE; *mode = h->mathMode; return OK; }
API int cublasSetPointerMode_v2(Handle* h, int mode) { if (!valid(h)) return NOT_INITIALIZED; if (mode != 0 && mode != 1) return INVALID_VALUE; h->pointerMode = mode; return OK; }
API int cublasGetPointerMode_v2(Handle* h, int* mode) { if (!valid(h)) return NOT_INITIALIZED; if (!mode) return INVALID_VALUE; *mode = h->pointerMode; return OK; }
API int cublasSetWorkspace_v2(Handle* h, void* ws, size_t bytes) { (void)ws; (void)bytes; return valid(h) ? OK : NOT_INITIALIZED; }
API int cublasSetAtomicsMode(Handle* h, int mode) { (void)mode; return valid(h) ? OK : NOT_INITIALIZED; }
API int cublasGetVersion_v2(Handle* h, int* v) { (void)h; if (!v) return INVALID_VALUE; *v = 130002; return OK; }
API int cublasGetProperty(int type, int* v) { if (!v) return INVALID_VALUE; *v = type == 0 ? 13 : type == 1 ? 0 : 2; return OK; }
API const char* cublasGetStatusName(int s) {
    switch (s) {
    case OK: return "CUBLAS_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}
API const char* cublasGetStatusString(int s) { return cublasGetStatusName(s); }

// ---- conversions ----

static inline float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bf16_f(uint16_t h) { return bits_f((uint32_t)h << 16); }
static inline uint16_t f_bf16(float f) {
    uint32_t u = f_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static inline float round_bf16(float f) { return bf16_f(f_bf16(f)); }
static inline float round_tf32(float f) { // nearest, ties away from zero (cvt.rna.tf32.f32)
    uint32_t u = f_bits(f);
    if ((u & 0x7f800000u) == 0x7f800000u) return f;
    u += 0x1000u;
    return bits_f(u & 0xffffe000u);
}
static inline float f16_f(uint16_t h) { _Float16 x; memcpy(&x, &h, 2); return (float)x; }
static inline uint16_t f_f16(float f) { _Float16 x = (_Float16)f; uint16_t h; memcpy(&h, &x, 2); return h; }
static inline float round_f16(float f) { return (float)(_Float16)f; }

static int type_size(int t) { return t == R_32F ? 4 : t == R_64F ? 8 : t == R_8I ? 1 : 2; }
static const char* type_name(int t) {
    switch (t) {
    case R_32F: return "CUDA_R_32F";
    case R_64F: return "CUDA_R_64F";
    case R_16F: return "CUDA_R_16F";
    case R_16BF: return "CUDA_R_16BF";
    case R_8I: return "CUDA_R_8I";
    default: return "cudaDataType";
    }
}

static inline float load(const void* p, int t, long long i) {
    switch (t) {
    case R_32F: return ((const float*)p)[i];
    case R_16BF: return bf16_f(((const uint16_t*)p)[i]);
    default: return f16_f(((const uint16_t*)p)[i]);
    }
}
static inline void store(void* p, int t, long long i, float v) {
    switch (t) {
    case R_32F: ((float*)p)[i] = v; break;
    case R_16BF: ((uint16_t*)p)[i] = f_bf16(v); break;
    default: ((uint16_t*)p)[i] = f_f16(v); break;
    }
}

enum Rounding { EXACT, TF32, BF16, F16 };

struct Gemm {
    int ta, tb, m, n, k;
    float alpha, beta;
    const void* alphaDev = nullptr; // device pointer mode: read when the call runs
    const void* betaDev = nullptr;
    int at, bt, ct, lda, ldb, ldc;
    Rounding rounding;
    // strided
    const void* A; const void* B; void* C;
    long long sa, sb, sc;
    int batch;
    // pointer-batched: the arrays (device memory) are read when the call runs
    const void* const* Aarr = nullptr; const void* const* Barr = nullptr; void* const* Carr = nullptr;
    const char* name;
};

static inline float rounded(float v, Rounding r) {
    switch (r) {
    case TF32: return round_tf32(v);
    case BF16: return round_bf16(v);
    case F16: return round_f16(v);
    default: return v;
    }
}

static void one(const Gemm& g, const void* A, const void* B, void* C, std::vector<float>& ap, std::vector<float>& bp) {
    int m = g.m, n = g.n, k = g.k;
    ap.resize((size_t)m * k);
    bp.resize((size_t)n * k);
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++) {
            long long idx = g.ta == OP_N ? i + (long long)p * g.lda : p + (long long)i * g.lda;
            ap[(size_t)i * k + p] = rounded(load(A, g.at, idx), g.rounding);
        }
    for (int j = 0; j < n; j++)
        for (int p = 0; p < k; p++) {
            long long idx = g.tb == OP_N ? p + (long long)j * g.ldb : j + (long long)p * g.ldb;
            bp[(size_t)j * k + p] = rounded(load(B, g.bt, idx), g.rounding);
        }
    float alpha = g.alphaDev ? *(const float*)g.alphaDev : g.alpha;
    float beta = g.betaDev ? *(const float*)g.betaDev : g.beta;
    for (int j = 0; j < n; j++) {
        const float* b = bp.data() + (size_t)j * k;
        for (int i = 0; i < m; i++) {
            const float* a = ap.data() + (size_t)i * k;
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int p = 0;
            for (; p + 8 <= k; p += 8)
                for (int l = 0; l < 8; l++) s[l] += a[p + l] * b[p + l];
            float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            for (; p < k; p++) t += a[p] * b[p];
            long long ci = i + (long long)j * g.ldc;
            float v = alpha * t;
            if (beta != 0.0f) v += beta * load(C, g.ct, ci);
            store(C, g.ct, ci, v);
        }
    }
}

static void run(void* arg) {
    Gemm& g = *(Gemm*)arg;
    std::vector<float> ap, bp;
    for (int b = 0; b < g.batch; b++) {
        const void* A;
        const void* B;
        void* C;
        if (g.Aarr) {
            A = g.Aarr[b];
            B = g.Barr[b];
            C = g.Carr[b];
            // Each matrix of a pointer-batched call must lie inside device memory.
            long long ea = g.ta == OP_N ? (long long)(g.k - 1) * g.lda + g.m : (long long)(g.m - 1) * g.lda + g.k;
            long long eb = g.tb == OP_N ? (long long)(g.n - 1) * g.ldb + g.k : (long long)(g.k - 1) * g.ldb + g.n;
            long long ec = (long long)(g.n - 1) * g.ldc + g.m;
            char why[300], msg[512];
            const char* which = nullptr;
            if (g.k > 0 && !bsemu_device_range((unsigned long long)A, (size_t)ea * type_size(g.at), why, sizeof why)) which = "Aarray";
            else if (g.k > 0 && !bsemu_device_range((unsigned long long)B, (size_t)eb * type_size(g.bt), why, sizeof why)) which = "Barray";
            else if (!bsemu_device_range((unsigned long long)C, (size_t)ec * type_size(g.ct), why, sizeof why)) which = "Carray";
            if (which) {
                snprintf(msg, sizeof msg, "%s[%d]: %s", which, b, why);
                bsemu_fail(700, g.name, msg);
                return;
            }
        } else {
            A = (const char*)g.A + (long long)b * g.sa * type_size(g.at);
            B = (const char*)g.B + (long long)b * g.sb * type_size(g.bt);
            C = (char*)g.C + (long long)b * g.sc * type_size(g.ct);
        }
        one(g, A, B, C, ap, bp);
    }
}

static void dispose(void* p) { delete (Gemm*)p; }

static int cc_major() {
    const char* cc = getenv("BERTSHARP_CUDA_EMU_CC");
    return cc && *cc ? atoi(cc) : 9;
}

static void complain(const char* who, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void complain(const char* who, const char* fmt, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    bsemu_report(1, who, buf);
}

// The checks cuBLAS makes before it launches anything, then the range checks of the emulator.
static int submit(Handle* h, Gemm* g, const void* alpha, const void* beta, int compute, int algo, bool strided, bool pointers) {
    std::unique_ptr<Gemm> own(g);
    const char* who = g->name;
    if (!valid(h)) return NOT_INITIALIZED;
    if ((g->ta != OP_N && g->ta != OP_T && g->ta != OP_C) || (g->tb != OP_N && g->tb != OP_T && g->tb != OP_C)) return INVALID_VALUE;
    if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0) return INVALID_VALUE;
    int rowsA = g->ta == OP_N ? g->m : g->k, rowsB = g->tb == OP_N ? g->k : g->n;
    if (g->lda < (rowsA > 1 ? rowsA : 1) || g->ldb < (rowsB > 1 ? rowsB : 1) || g->ldc < (g->m > 1 ? g->m : 1)) {
        complain(who, "CUBLAS_STATUS_INVALID_VALUE: lda %d (needs >= %d), ldb %d (needs >= %d), ldc %d (needs >= %d)",
                 g->lda, rowsA > 1 ? rowsA : 1, g->ldb, rowsB > 1 ? rowsB : 1, g->ldc, g->m > 1 ? g->m : 1);
        return INVALID_VALUE;
    }
    if (!alpha || !beta) return INVALID_VALUE;
    if (!(algo == -1 || (algo >= 0 && algo <= 23) || (algo >= 99 && algo <= 115))) return INVALID_VALUE;
    // Types: the combinations of cuBLAS's GemmEx table that take float32 compute.
    bool fast = compute == C32F_FAST_TF32 || compute == C32F_FAST_16BF || compute == C32F_FAST_16F;
    bool ok;
    if (compute == C32F || compute == C32F_P)
        ok = g->at == g->bt && ((g->at == R_32F && g->ct == R_32F) || ((g->at == R_16BF || g->at == R_16F) && (g->ct == g->at || g->ct == R_32F)));
    else if (fast)
        ok = g->at == R_32F && g->bt == R_32F && g->ct == R_32F;
    else
        ok = false;
    if (!ok) {
        complain(who, "CUBLAS_STATUS_NOT_SUPPORTED: A %s, B %s, C %s with compute type %d (the emulator offers the float32-compute rows of cuBLAS's table)",
                 type_name(g->at), type_name(g->bt), type_name(g->ct), compute);
        return NOT_SUPPORTED;
    }
    if ((g->at == R_16BF || compute == C32F_FAST_16BF) && cc_major() < 8) return ARCH_MISMATCH;
    g->rounding = EXACT;
    if (compute == C32F_FAST_TF32 || (compute == C32F && g->at == R_32F && (h->mathMode & 3) == 3)) g->rounding = TF32;
    else if (compute == C32F_FAST_16BF) g->rounding = BF16;
    else if (compute == C32F_FAST_16F) g->rounding = F16;
    if (h->pointerMode == 0) {
        // Host pointer mode: alpha and beta are host memory (a device pointer here would crash a real cuBLAS).
        if (bsemu_device_range((unsigned long long)alpha, 4, nullptr, 0) || bsemu_device_range((unsigned long long)beta, 4, nullptr, 0)) {
            complain(who, "alpha or beta is device memory, but the pointer mode is CUBLAS_POINTER_MODE_HOST");
            return INVALID_VALUE;
        }
        g->alpha = *(const float*)alpha;
        g->beta = *(const float*)beta;
    } else {
        char why[300];
        if (!bsemu_device_range((unsigned long long)alpha, 4, why, sizeof why) || !bsemu_device_range((unsigned long long)beta, 4, why, sizeof why)) {
            complain(who, "alpha/beta in device pointer mode: %s", why);
            return INVALID_VALUE;
        }
        g->alphaDev = alpha;
        g->betaDev = beta;
    }
    if (g->m == 0 || g->n == 0 || g->batch == 0) return OK;
    // Ranges: what cuBLAS would read and write must be device memory inside one allocation.
    long long ea = g->k == 0 ? 0 : (g->ta == OP_N ? (long long)(g->k - 1) * g->lda + g->m : (long long)(g->m - 1) * g->lda + g->k);
    long long eb = g->k == 0 ? 0 : (g->tb == OP_N ? (long long)(g->n - 1) * g->ldb + g->k : (long long)(g->k - 1) * g->ldb + g->n);
    long long ec = (long long)(g->n - 1) * g->ldc + g->m;
    char why[300], msg[600];
    auto check = [&](const char* what, const void* base, long long stride, long long extent, int type) {
        if (extent == 0) return true;
        long long lo = 0, hi = 0;
        if (strided && g->batch > 1) { long long last = (long long)(g->batch - 1) * stride; lo = last < 0 ? last : 0; hi = last > 0 ? last : 0; }
        long long sz = type_size(type);
        if (!bsemu_device_range((unsigned long long)((const char*)base + lo * sz), (size_t)((hi - lo + extent) * sz), why, sizeof why)) {
            snprintf(msg, sizeof msg, "%s (%s%s): %s", what, type_name(type), strided && g->batch > 1 ? ", all batches" : "", why);
            return false;
        }
        return true;
    };
    if (pointers) {
        for (auto arr : {(const void*)g->Aarr, (const void*)g->Barr, (const void*)g->Carr})
            if (!bsemu_device_range((unsigned long long)arr, (size_t)g->batch * 8, why, sizeof why)) {
                snprintf(msg, sizeof msg, "a pointer array: %s", why);
                bsemu_fail(700, who, msg);
                return EXECUTION_FAILED;
            }
    } else if (!check("A", g->A, g->sa, ea, g->at) || !check("B", g->B, g->sb, eb, g->bt) || !check("C", g->C, g->sc, ec, g->ct)) {
        bsemu_fail(700, who, msg);
        return EXECUTION_FAILED;
    }
    int r = bsemu_enqueue(run, own.release(), dispose);
    return r == 0 ? OK : EXECUTION_FAILED;
}

API int cublasGemmEx(Handle* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda,
                     const void* B, int bt, int ldb, const void* beta, void* C, int ct, int ldc, int compute, int algo) {
    Gemm* g = new Gemm{ta, tb, m, n, k, 0, 0, nullptr, nullptr, at, bt, ct, lda, ldb, ldc, EXACT, A, B, C, 0, 0, 0, 1, nullptr, nullptr, nullptr, "cublasGemmEx"};
    return submit(h, g, alpha, beta, compute, algo, false, false);
}

API int cublasGemmStridedBatchedEx(Handle* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda, long long sa,
                                   const void* B, int bt, int ldb, long long sb, const void* beta, void* C, int ct, int ldc, long long sc,
                                   int batch, int compute, int algo) {
    Gemm* g = new Gemm{ta, tb, m, n, k, 0, 0, nullptr, nullptr, at, bt, ct, lda, ldb, ldc, EXACT, A, B, C, sa, sb, sc, batch, nullptr, nullptr, nullptr, "cublasGemmStridedBatchedEx"};
    return submit(h, g, alpha, beta, compute, algo, true, false);
}

API int cublasGemmBatchedEx(Handle* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* const* A, int at, int lda,
                            const void* const* B, int bt, int ldb, const void* beta, void* const* C, int ct, int ldc, int batch, int compute, int algo) {
    Gemm* g = new Gemm{ta, tb, m, n, k, 0, 0, nullptr, nullptr, at, bt, ct, lda, ldb, ldc, EXACT, nullptr, nullptr, nullptr, 0, 0, 0, batch, A, B, C, "cublasGemmBatchedEx"};
    return submit(h, g, alpha, beta, compute, algo, false, true);
}

API int cublasSgemm_v2(Handle* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                       const float* beta, float* C, int ldc) {
    Gemm* g = new Gemm{ta, tb, m, n, k, 0, 0, nullptr, nullptr, R_32F, R_32F, R_32F, lda, ldb, ldc, EXACT, A, B, C, 0, 0, 0, 1, nullptr, nullptr, nullptr, "cublasSgemm"};
    return submit(h, g, alpha, beta, C32F, -1, false, false);
}

API int cublasSgemmStridedBatched(Handle* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda, long long sa,
                                  const float* B, int ldb, long long sb, const float* beta, float* C, int ldc, long long sc, int batch) {
    Gemm* g = new Gemm{ta, tb, m, n, k, 0, 0, nullptr, nullptr, R_32F, R_32F, R_32F, lda, ldb, ldc, EXACT, A, B, C, sa, sb, sc, batch, nullptr, nullptr, nullptr, "cublasSgemmStridedBatched"};
    return submit(h, g, alpha, beta, C32F, -1, true, false);
}

API int cublasSgemmBatched(Handle* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* const* A, int lda,
                           const float* const* B, int ldb, const float* beta, float* const* C, int ldc, int batch) {
    Gemm* g = new Gemm{ta, tb, m, n, k, 0, 0, nullptr, nullptr, R_32F, R_32F, R_32F, lda, ldb, ldc, EXACT, nullptr, nullptr, nullptr, 0, 0, 0, batch,
                       (const void* const*)A, (const void* const*)B, (void* const*)C, "cublasSgemmBatched"};
    return submit(h, g, alpha, beta, C32F, -1, false, true);
}
