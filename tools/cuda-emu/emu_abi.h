// The contract between the emulated driver (driver.cpp, libcuda.so.1) and a module the emulated NVRTC built
// (nvrtc.cpp + emu_device.h): the module exports one bs_emu_module_t the driver fills and updates; the driver
// finds the kernels through the module's bs_emu_kernels table. Plain C, no C++ types across the boundary.
#pragma once
#include <stddef.h>

#define BS_EMU_ABI 1
#define BS_EMU_MAX_PARAMS 64

typedef struct { unsigned x, y, z; } bs_emu_uint3;

// Warp operations the module asks the driver for (one entry point, so the ABI stays small).
enum { BS_EMU_SHFL_IDX = 0, BS_EMU_SHFL_UP = 1, BS_EMU_SHFL_DOWN = 2, BS_EMU_SHFL_XOR = 3, BS_EMU_SYNCWARP = 4,
       BS_EMU_VOTE_ALL = 5, BS_EMU_VOTE_ANY = 6, BS_EMU_VOTE_BALLOT = 7 };

typedef struct bs_emu_module {
    int abi;
    // Updated by the driver before it resumes each CUDA thread (fiber).
    bs_emu_uint3 threadIdx, blockIdx, blockDim, gridDim;
    void* dynamicShared;                       // this block's extern __shared__ memory
    // Filled by the driver after it loads the module.
    void (*syncthreads)(const void* site);
    // Warp exchange: op, mask, this lane's 8-byte value, the op's lane argument, width; returns the result bits.
    unsigned long long (*warp)(int op, unsigned mask, unsigned long long value, int lane, int width, const void* site);
    void (*trap)(const char* what);
} bs_emu_module_t;

typedef struct bs_emu_kernel {
    const char* name;
    void (*invoke)(void** args);               // calls the kernel with *(T_i*)args[i]
    int params;
    int size[BS_EMU_MAX_PARAMS];               // sizeof each parameter
    int pointer[BS_EMU_MAX_PARAMS];            // 1 when the parameter is a pointer (checked against allocations)
} bs_emu_kernel_t;
