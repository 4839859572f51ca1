// LayerNorm over rows: one block per row (LaunchGeometry.Rows), two passes (mean, then Σ(x − mean)²), biased variance.
// x, y: activations (T); gamma, beta, mean, rstd: float32. sh: 32 floats of shared memory.
template <typename T> __device__ void bs_layernorm_forward_t(const T* x, const float* gamma, const float* beta, float eps, int cols,
                                                             T* y, float* mean, float* rstd, float* sh) {
    long long r = blockIdx.x;
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += bs_ld(xr, i);
    float mu = bs_block_sum(s, sh) / cols;
    float q = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) { float d = bs_ld(xr, i) - mu; q += d * d; }
    float var = bs_block_sum(q, sh) / cols;
    float rs = 1.0f / sqrtf(var + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) bs_st(yr, i, (bs_ld(xr, i) - mu) * rs * gamma[i] + beta[i]);
    if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = rs; }
}

extern "C" __global__ void bs_layernorm_forward(const float* x, const float* gamma, const float* beta, float eps, int cols,
                                                float* y, float* mean, float* rstd) {
    __shared__ float sh[32];
    bs_layernorm_forward_t(x, gamma, beta, eps, cols, y, mean, rstd, sh);
}

extern "C" __global__ void bs_layernorm_forward_bf16(const bf16_t* x, const float* gamma, const float* beta, float eps, int cols,
                                                     bf16_t* y, float* mean, float* rstd) {
    __shared__ float sh[32];
    bs_layernorm_forward_t(x, gamma, beta, eps, cols, y, mean, rstd, sh);
}

// dx per row: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·gamma, x̂ = (x − mean)·rstd.
template <typename T> __device__ void bs_layernorm_backward_dx_t(const T* dy, const T* x, const float* mean, const float* rstd,
                                                                 const float* gamma, int cols, T* dx, float* sh) {
    long long r = blockIdx.x;
    const T* dyr = dy + r * cols;
    const T* xr = x + r * cols;
    T* dxr = dx + r * cols;
    float mu = mean[r], rs = rstd[r];
    float s1 = 0.0f, s2 = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float g = bs_ld(dyr, i) * gamma[i];
        s1 += g;
        s2 += g * ((bs_ld(xr, i) - mu) * rs);
    }
    s1 = bs_block_sum(s1, sh);
    s2 = bs_block_sum(s2, sh);
    float inv = 1.0f / cols;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float g = bs_ld(dyr, i) * gamma[i];
        float h = (bs_ld(xr, i) - mu) * rs;
        bs_st(dxr, i, rs * (g - s1 * inv - h * (s2 * inv)));
    }
}

extern "C" __global__ void bs_layernorm_backward_dx(const float* dy, const float* x, const float* mean, const float* rstd,
                                                    const float* gamma, int cols, float* dx) {
    __shared__ float sh[32];
    bs_layernorm_backward_dx_t(dy, x, mean, rstd, gamma, cols, dx, sh);
}

extern "C" __global__ void bs_layernorm_backward_dx_bf16(const bf16_t* dy, const bf16_t* x, const float* mean, const float* rstd,
                                                         const float* gamma, int cols, bf16_t* dx) {
    __shared__ float sh[32];
    bs_layernorm_backward_dx_t(dy, x, mean, rstd, gamma, cols, dx, sh);
}

// Column reductions (LayerNorm's dgamma/dbeta, bias gradients), deterministic and using the whole GPU: pass 1 cuts
// the rows into chunks of `chunkRows` (LaunchGeometry.ColumnChunkRows, from the row count alone) and gives each
// (32 columns, chunk) its own block of 32 × 8 threads; each row lane sums rows ty, ty + 8, ... of the chunk in order,
// the 8 lanes are added in order, and the chunk's sum goes to partial[chunk, c]. Pass 2 (bs_column_finish) adds the
// chunks in order: out[c] += Σk partial[k, c]. With x == null only dy is summed (bias backward: partialG unused).
// The summed values come from a source S: S::dy(r, i) and S::xhat(r, i) for element i = r·cols + c (BsColumnsOf: dy
// and x activations of storage T; BsCrossEntropyGrad: the gradient of softmax cross-entropy recomputed from logits).
template <typename T> struct BsColumnsOf {
    const T* dy; const T* x; const float* mean; const float* rstd;
    __device__ __forceinline__ bool hasX() const { return x != 0; }
    __device__ __forceinline__ float grad(long long, long long i, int) const { return bs_ld(dy, i); }
    __device__ __forceinline__ float xhat(long long r, long long i) const { return (bs_ld(x, i) - mean[r]) * rstd[r]; }
};

template <typename S> __device__ void bs_column_partials_t(const S& src, int rows, int cols, int chunkRows, float* partialG,
                                                           float* partialB, float (*sg)[33], float (*sb)[33]) {
    int c = blockIdx.x * 32 + threadIdx.x;
    long long r0 = (long long)blockIdx.y * chunkRows;
    long long r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
    bool hasX = src.hasX();
    float g = 0.0f, b = 0.0f;
    if (c < cols) {
        for (long long r = r0 + threadIdx.y; r < r1; r += 8) {
            long long i = r * cols + c;
            float d = src.grad(r, i, c);
            if (hasX) g += d * src.xhat(r, i);
            b += d;
        }
    }
    sg[threadIdx.y][threadIdx.x] = g;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float tg = 0.0f, tb = 0.0f;
        for (int k = 0; k < 8; k++) { tg += sg[k][threadIdx.x]; tb += sb[k][threadIdx.x]; }
        long long o = (long long)blockIdx.y * cols + c;
        if (hasX) partialG[o] = tg;
        partialB[o] = tb;
    }
}

extern "C" __global__ void bs_column_partials(const float* dy, const float* x, const float* mean, const float* rstd,
                                              int rows, int cols, int chunkRows, float* partialG, float* partialB) {
    __shared__ float sg[8][33], sb[8][33];
    BsColumnsOf<float> src = { dy, x, mean, rstd };
    bs_column_partials_t(src, rows, cols, chunkRows, partialG, partialB, sg, sb);
}

extern "C" __global__ void bs_column_partials_bf16(const bf16_t* dy, const bf16_t* x, const float* mean, const float* rstd,
                                                   int rows, int cols, int chunkRows, float* partialG, float* partialB) {
    __shared__ float sg[8][33], sb[8][33];
    BsColumnsOf<bf16_t> src = { dy, x, mean, rstd };
    bs_column_partials_t(src, rows, cols, chunkRows, partialG, partialB, sg, sb);
}

// The fused bias + cross-entropy backward on bf16 logits: dbias sums the float32 gradients, not the bf16 values the
// in-place backward then stores, so its column partials recompute each gradient from the logits (before they are
// overwritten) as bs_cross_entropy_backward does. Rows with an ignored or out-of-range target contribute zero (the
// backward reports the latter).
template <typename T> struct BsCrossEntropyGrad {
    const T* logits; const float* logSumExp; const int* targets; int ignoreIndex; int cols; float scale;
    __device__ __forceinline__ bool hasX() const { return false; }
    __device__ __forceinline__ float grad(long long r, long long i, int c) const {
        int t = targets[r];
        if (t == ignoreIndex || (unsigned)t >= (unsigned)cols) return 0.0f;
        return bs_cross_entropy_grad(bs_ld(logits, i), logSumExp[r], c == t, scale);
    }
    __device__ __forceinline__ float xhat(long long, long long) const { return 0.0f; }
};

extern "C" __global__ void bs_cross_entropy_bias_partials_bf16(const bf16_t* logits, const float* logSumExp, const int* targets, int ignoreIndex,
                                                               float scale, int rows, int cols, int chunkRows, float* partialB) {
    __shared__ float sg[8][33], sb[8][33];
    BsCrossEntropyGrad<bf16_t> src = { logits, logSumExp, targets, ignoreIndex, cols, scale };
    bs_column_partials_t(src, rows, cols, chunkRows, 0, partialB, sg, sb);
}

// out[c] += Σk partial[k, c] over the chunks in order (outG skipped when null): one thread per column.
extern "C" __global__ void bs_column_finish(const float* partialG, const float* partialB, int chunks, int cols, float* outG, float* outB) {
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < cols; c += (long long)gridDim.x * blockDim.x) {
        float tg = 0.0f, tb = 0.0f;
        for (int k = 0; k < chunks; k++) {
            long long o = (long long)k * cols + c;
            if (outG) tg += partialG[o];
            tb += partialB[o];
        }
        if (outG) outG[c] += tg;
        outB[c] += tb;
    }
}
