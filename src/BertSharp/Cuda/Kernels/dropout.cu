// Inverted dropout with Tensors/Dropout.cs's counter scheme: element g of the global tensor (g = offset + i) is kept
// iff uniform(word g % 4 of Philox(key = seed, counter = (g / 4, site, step lo, step hi))) >= p. One thread per
// Philox block of four global elements, so each block is computed once; the view may start inside a block.
template <typename T> __device__ void bs_dropout_t(const T* x, T* y, long long n, long long offset, float p, float scale,
                                                   u32 site, u32 stepLo, u32 stepHi, u32 k0, u32 k1) {
    long long firstBlock = offset >> 2;
    long long blocks = ((offset + n + 3) >> 2) - firstBlock;
    for (long long b = blockIdx.x * (long long)blockDim.x + threadIdx.x; b < blocks; b += (long long)gridDim.x * blockDim.x) {
        long long g0 = (firstBlock + b) << 2;
        u32 w[4];
        bs_philox((u32)(firstBlock + b), site, stepLo, stepHi, k0, k1, w);
        #pragma unroll
        for (int k = 0; k < 4; k++) {
            long long i = g0 + k - offset;
            if (i >= 0 && i < n) bs_st(y, i, bs_ld(x, i) * (bs_uniform(w[k]) >= p ? scale : 0.0f));
        }
    }
}

extern "C" __global__ void bs_dropout(const float* x, float* y, long long n, long long offset, float p, float scale,
                                      u32 site, u32 stepLo, u32 stepHi, u32 k0, u32 k1) {
    bs_dropout_t(x, y, n, offset, p, scale, site, stepLo, stepHi, k0, k1);
}

extern "C" __global__ void bs_dropout_bf16(const bf16_t* x, bf16_t* y, long long n, long long offset, float p, float scale,
                                           u32 site, u32 stepLo, u32 stepHi, u32 k0, u32 k1) {
    bs_dropout_t(x, y, n, offset, p, scale, site, stepLo, stepHi, k0, k1);
}
