// The device side of the CUDA emulator: what a CUDA C module needs to compile as C++ with g++ and run with each
// CUDA thread as a fiber of the emulated driver (driver.cpp). The emulated NVRTC passes this file with -include
// before the program's own source; the program text itself is compiled unchanged (only `extern __shared__`
// declarations are rewritten, see nvrtc.cpp).
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <utility>
#include <type_traits>
#include "emu_abi.h"

extern "C" __attribute__((visibility("default"))) bs_emu_module_t bs_emu_module = {BS_EMU_ABI, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, nullptr, nullptr, nullptr, nullptr};

#define __CUDACC__ 1
#define __CUDACC_RTC__ 1
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900 // nvrtc.cpp defines it from --gpu-architecture
#endif
#define BS_CUDA_EMULATOR 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __inline__ inline
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __grid_constant__
#define __constant__
#define __managed__
// Static shared memory: one instance per kernel (blocks run one at a time), in a section the driver poisons
// (0xFF bytes: NaN floats) before every block so that reading shared memory nobody wrote shows.
#define __shared__ static __attribute__((section("bs_emu_shared")))

#define BS_EMU_STR2(x) #x
#define BS_EMU_STR(x) BS_EMU_STR2(x)
#define BS_EMU_SITE (__FILE__ ":" BS_EMU_STR(__LINE__))

typedef bs_emu_uint3 uint3;
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
    dim3(bs_emu_uint3 u) : x(u.x), y(u.y), z(u.z) {}
};
#define threadIdx (bs_emu_module.threadIdx)
#define blockIdx (bs_emu_module.blockIdx)
#define blockDim (bs_emu_module.blockDim)
#define gridDim (bs_emu_module.gridDim)
#define warpSize 32

#define __syncthreads() (bs_emu_module.syncthreads(BS_EMU_SITE))
#define __trap() (bs_emu_module.trap("__trap() at " BS_EMU_SITE))
#undef assert
#define assert(e) ((e) ? (void)0 : bs_emu_module.trap("assertion failed: " #e " at " BS_EMU_SITE))
static inline void __threadfence() { __asm__ __volatile__("" ::: "memory"); }
static inline void __threadfence_block() { __asm__ __volatile__("" ::: "memory"); }

// ---- warp operations: every lane of the mask must reach the same call (checked by the driver) ----
template <class T> static inline T bs_emu_warp(int op, unsigned mask, T v, int lane, int width, const char* site) {
    static_assert(sizeof(T) <= 8, "warp exchange of a value wider than 8 bytes");
    unsigned long long bits = 0;
    memcpy(&bits, &v, sizeof(T));
    bits = bs_emu_module.warp(op, mask, bits, lane, width, site);
    T r;
    memcpy(&r, &bits, sizeof(T));
    return r;
}
#define __shfl_sync(mask, v, lane, ...) bs_emu_warp(BS_EMU_SHFL_IDX, mask, v, lane, bs_emu_width(__VA_ARGS__), BS_EMU_SITE)
#define __shfl_up_sync(mask, v, d, ...) bs_emu_warp(BS_EMU_SHFL_UP, mask, v, (int)(d), bs_emu_width(__VA_ARGS__), BS_EMU_SITE)
#define __shfl_down_sync(mask, v, d, ...) bs_emu_warp(BS_EMU_SHFL_DOWN, mask, v, (int)(d), bs_emu_width(__VA_ARGS__), BS_EMU_SITE)
#define __shfl_xor_sync(mask, v, m, ...) bs_emu_warp(BS_EMU_SHFL_XOR, mask, v, (int)(m), bs_emu_width(__VA_ARGS__), BS_EMU_SITE)
#define __syncwarp(...) ((void)bs_emu_module.warp(BS_EMU_SYNCWARP, bs_emu_mask(__VA_ARGS__), 0, 0, 32, BS_EMU_SITE))
#define __all_sync(mask, p) ((int)bs_emu_module.warp(BS_EMU_VOTE_ALL, mask, (p) ? 1 : 0, 0, 32, BS_EMU_SITE))
#define __any_sync(mask, p) ((int)bs_emu_module.warp(BS_EMU_VOTE_ANY, mask, (p) ? 1 : 0, 0, 32, BS_EMU_SITE))
#define __ballot_sync(mask, p) ((unsigned)bs_emu_module.warp(BS_EMU_VOTE_BALLOT, mask, (p) ? 1 : 0, 0, 32, BS_EMU_SITE))
static inline int bs_emu_width() { return 32; }
static inline int bs_emu_width(int w) { return w; }
static inline unsigned bs_emu_mask() { return 0xffffffffu; }
static inline unsigned bs_emu_mask(unsigned m) { return m; }
static inline unsigned __activemask() { return 0xffffffffu; }

// ---- integer and bit intrinsics ----
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) { return (unsigned long long)(((unsigned __int128)a * b) >> 64); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned __brev(unsigned x) { unsigned r = 0; for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i); return r; }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
static inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, 8); return i; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }

// ---- float intrinsics (the emulator computes them in IEEE float32 with the host's libm: not the GPU's ulp errors) ----
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __fdividef(float a, float b) { return a / b; }
// (glibc declares __expf and friends itself: macros, not functions)
#define __expf(x) expf(x)
#define __logf(x) logf(x)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __tanhf(x) tanhf(x)
#define __powf(a, b) powf(a, b)
#define __exp10f(x) exp10f(x)
#define __log2f(x) log2f(x)
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x != x ? 0.0f : x)); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
template <class T> static inline T __ldg(const T* p) { return *p; }

// ---- atomics: a fiber is never switched inside one, so a plain read-modify-write is atomic here ----
template <class T> static inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T> static inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <class T> static inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> static inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <class T> static inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <class T> static inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }
template <class T> static inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <class T> static inline T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }

static unsigned long long bs_emu_clock_counter;
static inline long long clock64() { return (long long)++bs_emu_clock_counter; }
static inline int clock() { return (int)++bs_emu_clock_counter; }

// ---- bfloat16 (cuda_bf16.h's names): round to nearest even, NaN kept quiet ----
struct __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f);
    __nv_bfloat16(double d) : __nv_bfloat16((float)d) {}
    operator float() const { return __uint_as_float(((unsigned)__x) << 16); }
};
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;
static inline unsigned short bs_emu_f2bf_bits(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}
inline __nv_bfloat16::__nv_bfloat16(float f) : __x(bs_emu_f2bf_bits(f)) {}
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) { __nv_bfloat16 h; h.__x = b; return h; }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __ushort_as_bfloat16(bs_emu_f2bf_bits(f)); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
static inline __nv_bfloat16 __float2bfloat16_rz(float f) { return __ushort_as_bfloat16((unsigned short)(__float_as_uint(f) >> 16)); }
static inline float __bfloat162float(__nv_bfloat16 h) { return (float)h; }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16(a), __float2bfloat16(b)}; }
static inline float __low2float(__nv_bfloat162 v) { return (float)v.x; }
static inline float __high2float(__nv_bfloat162 v) { return (float)v.y; }
static inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16((float)a + (float)b); }
static inline __nv_bfloat16 __hsub(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16((float)a - (float)b); }
static inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16((float)a * (float)b); }
static inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) { return __float2bfloat16(fmaf((float)a, (float)b, (float)c)); }
static inline __nv_bfloat16 __hdiv(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16((float)a / (float)b); }
static inline __nv_bfloat16 __hneg(__nv_bfloat16 a) { return __ushort_as_bfloat16((unsigned short)(a.__x ^ 0x8000u)); }
static inline __nv_bfloat16 __habs(__nv_bfloat16 a) { return __ushort_as_bfloat16((unsigned short)(a.__x & 0x7fffu)); }
static inline __nv_bfloat16 __hmax(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16(fmaxf((float)a, (float)b)); }
static inline __nv_bfloat16 __hmin(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16(fminf((float)a, (float)b)); }
// cuda_bf16.hpp's operators on two bfloat16 values (each result rounded to bfloat16).
static inline __nv_bfloat16 operator+(__nv_bfloat16 a, __nv_bfloat16 b) { return __hadd(a, b); }
static inline __nv_bfloat16 operator-(__nv_bfloat16 a, __nv_bfloat16 b) { return __hsub(a, b); }
static inline __nv_bfloat16 operator*(__nv_bfloat16 a, __nv_bfloat16 b) { return __hmul(a, b); }
static inline __nv_bfloat16 operator/(__nv_bfloat16 a, __nv_bfloat16 b) { return __hdiv(a, b); }
static inline __nv_bfloat16 operator-(__nv_bfloat16 a) { return __hneg(a); }
static inline __nv_bfloat16& operator+=(__nv_bfloat16& a, __nv_bfloat16 b) { return a = __hadd(a, b); }
static inline __nv_bfloat16& operator-=(__nv_bfloat16& a, __nv_bfloat16 b) { return a = __hsub(a, b); }
static inline __nv_bfloat16& operator*=(__nv_bfloat16& a, __nv_bfloat16 b) { return a = __hmul(a, b); }
static inline bool operator==(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a == (float)b; }
static inline bool operator!=(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a != (float)b; }
static inline bool operator<(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a < (float)b; }
static inline bool operator>(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a > (float)b; }
static inline bool operator<=(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a <= (float)b; }
static inline bool operator>=(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a >= (float)b; }
static inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return {a, b}; }
static inline __nv_bfloat162 __bfloat162bfloat162(__nv_bfloat16 a) { return {a, a}; }
static inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 v) { return v.x; }
static inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 v) { return v.y; }
static inline __nv_bfloat162 __hadd2(__nv_bfloat162 a, __nv_bfloat162 b) { return {__hadd(a.x, b.x), __hadd(a.y, b.y)}; }
static inline __nv_bfloat162 __hmul2(__nv_bfloat162 a, __nv_bfloat162 b) { return {__hmul(a.x, b.x), __hmul(a.y, b.y)}; }
static inline __nv_bfloat162 __hfma2(__nv_bfloat162 a, __nv_bfloat162 b, __nv_bfloat162 c) { return {__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)}; }

struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct int2 { int x, y; };
struct int4 { int x, y, z, w; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline __nv_bfloat162 __float22bfloat162_rn(float2 f) { return __floats2bfloat162_rn(f.x, f.y); }
static inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {(float)v.x, (float)v.y}; }

// ---- the launch wrappers nvrtc.cpp appends: BS_EMU_KERNELS(name...) ----
template <class F> struct bs_emu_sig;
template <class... A> struct bs_emu_sig<void (*)(A...)> {
    template <size_t... I> static void call(void (*f)(A...), void** a, std::index_sequence<I...>) {
        f(*(typename std::remove_cv<A>::type*)a[I]...);
    }
    static void invoke(void (*f)(A...), void** a) { call(f, a, std::index_sequence_for<A...>{}); }
    static bs_emu_kernel_t describe(const char* name, void (*inv)(void**)) {
        static_assert(sizeof...(A) <= BS_EMU_MAX_PARAMS, "too many kernel parameters");
        bs_emu_kernel_t k;
        memset(&k, 0, sizeof k);
        k.name = name;
        k.invoke = inv;
        k.params = (int)sizeof...(A);
        int i = 0;
        ((k.size[i] = (int)sizeof(A), k.pointer[i] = std::is_pointer<A>::value ? 1 : 0, i++), ...);
        (void)i;
        return k;
    }
};
#define BS_EMU_WRAP(N) static void bs_emu_invoke_##N(void** a) { bs_emu_sig<decltype(&N)>::invoke(&N, a); }
#define BS_EMU_DESCRIBE(N) bs_emu_sig<decltype(&N)>::describe(#N, &bs_emu_invoke_##N)

extern "C" char __start_bs_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_bs_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" __attribute__((visibility("default"))) void bs_emu_shared_range(void** begin, size_t* size) {
    *begin = __start_bs_emu_shared;
    *size = __start_bs_emu_shared ? (size_t)(__stop_bs_emu_shared - __start_bs_emu_shared) : 0;
}
