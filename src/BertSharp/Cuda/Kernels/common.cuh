// Shared by every BertSharp kernel: integer types, block reductions in a fixed order (so results do not depend on
// timing), the Philox4x32-10 generator of Tensors/Dropout.cs, and bfloat16 conversions by bit operations (no
// headers: NVRTC compiles this without a toolkit's include folder).
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short bf16_t;
#define BS_NEG_INF __int_as_float(0xff800000)

#ifndef BS_BLOCK
#define BS_BLOCK 256
#endif

__device__ __forceinline__ float bs_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double bs_warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float bs_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result. sh: 32 floats.
__device__ float bs_block_sum(float v, float* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = bs_warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < warps ? sh[lane] : 0.0f;
        t = bs_warp_sum(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

__device__ double bs_block_sum_d(double v, double* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = bs_warp_sum_d(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double t = lane < warps ? sh[lane] : 0.0;
        t = bs_warp_sum_d(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

__device__ float bs_block_max(float v, float* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = bs_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < warps ? sh[lane] : BS_NEG_INF;
        t = bs_warp_max(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

// Philox4x32-10 (Salmon et al., SC'11) exactly as Tensors/Dropout.cs: counter (c0..c3), key (k0, k1).
__device__ __forceinline__ void bs_philox(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1, u32 out[4]) {
    #pragma unroll
    for (int round = 0; round < 10; round++) {
        if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        u32 lo0 = 0xD2511F53u * c0, hi0 = __umulhi(0xD2511F53u, c0);
        u32 lo1 = 0xCD9E8D57u * c2, hi1 = __umulhi(0xCD9E8D57u, c2);
        u32 n0 = hi1 ^ c1 ^ k0;
        u32 n2 = hi0 ^ c3 ^ k1;
        c1 = lo1; c3 = lo0; c0 = n0; c2 = n2;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// The top 24 bits as a float in [0, 1), exact (Dropout.ToUniform).
__device__ __forceinline__ float bs_uniform(u32 w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

// float -> bfloat16, round to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ bf16_t bs_f2bf(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t)(u >> 16);
}

__device__ __forceinline__ float bs_bf2f(bf16_t h) { return __uint_as_float(((u32)h) << 16); }

// Activation storage (Device's contract: x, y, dy, dx, output, doutput, logits, dlogits are float32 or bfloat16): a
// kernel body is written once as a template over the element type T and loads through bs_ld (widened to float32) and
// stores through bs_st (rounded), so it computes in float32 between load and store. For float, both are the plain
// access the float32 kernel always made: its results are unchanged. Each extern "C" entry point names one storage
// (bs_gelu and bs_gelu_bf16). Static __shared__ arrays stay in the entry points and are passed in: g++ (the emulator's
// compiler) drops the section attribute that marks shared memory from a static inside a template, which would hide it
// from the emulator's per-block refill.
__device__ __forceinline__ float bs_ld(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float bs_ld(const bf16_t* p, long long i) { return bs_bf2f(p[i]); }
__device__ __forceinline__ void bs_st(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void bs_st(bf16_t* p, long long i, float v) { p[i] = bs_f2bf(v); }

// An out-of-range index found by a kernel (CudaDevice's check slots): the position and the value, packed into one
// 64-bit word written with one store (any offender's pair is reported whole; no atomics). A null slot: no report.
// The kernel then skips the access, so a bad id never reads or writes outside an allocation.
__device__ __forceinline__ void bs_report(u64* slot, long long position, int value) {
    if (slot) *(volatile u64*)slot = ((u64)(position & 0xffffffffLL) << 32) | (u64)(u32)value;
}
