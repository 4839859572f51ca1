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

// dgamma[c] += Σr dy·x̂, dbeta[c] += Σr dy: a column reduction (LaunchGeometry.Columns: 32 columns × 8 row lanes per
// block, each lane summing rows ty, ty + 8, ... in order, the 8 lanes then added in order: a fixed order).
extern "C" __global__ void bs_layernorm_backward_params(const float* dy, const float* x, const float* mean, const float* rstd,
                                                        int rows, int cols, float* dgamma, float* dbeta) {
    __shared__ float sg[8][33], sb[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float g = 0.0f, b = 0.0f;
    if (c < cols) {
        for (int r = threadIdx.y; r < rows; r += 8) {
            long long i = (long long)r * cols + c;
            float d = dy[i];
            g += d * ((x[i] - mean[r]) * rstd[r]);
            b += d;
        }
    }
    sg[threadIdx.y][threadIdx.x] = g;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float tg = 0.0f, tb = 0.0f;
        for (int k = 0; k < 8; k++) { tg += sg[k][threadIdx.x]; tb += sb[k][threadIdx.x]; }
        dgamma[c] += tg;
        dbeta[c] += tb;
    }
}

// dbias[c] += Σr dy[r, c] (BiasBackward and the fused bias + cross-entropy backward), same fixed order as above.
extern "C" __global__ void bs_column_sum(const float* dy, int rows, int cols, float* dbias) {
    __shared__ float sb[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float b = 0.0f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += 8) b += dy[(long long)r * cols + c];
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.0f;
        for (int k = 0; k < 8; k++) t += sb[k][threadIdx.x];
        dbias[c] += t;
    }
}
