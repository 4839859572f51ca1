// LayerNorm over rows: one block per row (LaunchGeometry.Rows), two passes (mean, then Σ(x − mean)²), biased variance.
extern "C" __global__ void bs_layernorm_forward(const float* x, const float* gamma, const float* beta, float eps, int cols,
                                                float* y, float* mean, float* rstd) {
    __shared__ float sh[32];
    long long r = blockIdx.x;
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += xr[i];
    float mu = bs_block_sum(s, sh) / cols;
    float q = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) { float d = xr[i] - mu; q += d * d; }
    float var = bs_block_sum(q, sh) / cols;
    float rs = 1.0f / sqrtf(var + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) yr[i] = (xr[i] - mu) * rs * gamma[i] + beta[i];
    if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = rs; }
}

// dx per row: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·gamma, x̂ = (x − mean)·rstd.
extern "C" __global__ void bs_layernorm_backward_dx(const float* dy, const float* x, const float* mean, const float* rstd,
                                                    const float* gamma, int cols, float* dx) {
    __shared__ float sh[32];
    long long r = blockIdx.x;
    const float* dyr = dy + r * cols;
    const float* xr = x + r * cols;
    float* dxr = dx + r * cols;
    float mu = mean[r], rs = rstd[r];
    float s1 = 0.0f, s2 = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float g = dyr[i] * gamma[i];
        s1 += g;
        s2 += g * ((xr[i] - mu) * rs);
    }
    s1 = bs_block_sum(s1, sh);
    s2 = bs_block_sum(s2, sh);
    float inv = 1.0f / cols;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float g = dyr[i] * gamma[i];
        float h = (xr[i] - mu) * rs;
        dxr[i] = rs * (g - s1 * inv - h * (s2 * inv));
    }
}

// Column reductions (LayerNorm's dgamma/dbeta, bias gradients), deterministic and using the whole GPU: pass 1 cuts
// the rows into chunks of `chunkRows` (LaunchGeometry.ColumnChunkRows, from the row count alone) and gives each
// (32 columns, chunk) its own block of 32 × 8 threads; each row lane sums rows ty, ty + 8, ... of the chunk in order,
// the 8 lanes are added in order, and the chunk's sum goes to partial[chunk, c]. Pass 2 (bs_column_finish) adds the
// chunks in order: out[c] += Σk partial[k, c]. With x == null only dy is summed (bias backward: partialG unused).
extern "C" __global__ void bs_column_partials(const float* dy, const float* x, const float* mean, const float* rstd,
                                              int rows, int cols, int chunkRows, float* partialG, float* partialB) {
    __shared__ float sg[8][33], sb[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    long long r0 = (long long)blockIdx.y * chunkRows;
    long long r1 = r0 + chunkRows < rows ? r0 + chunkRows : rows;
    float g = 0.0f, b = 0.0f;
    if (c < cols) {
        for (long long r = r0 + threadIdx.y; r < r1; r += 8) {
            long long i = r * cols + c;
            float d = dy[i];
            if (x) g += d * ((x[i] - mean[r]) * rstd[r]);
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
        if (x) partialG[o] = tg;
        partialB[o] = tb;
    }
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
