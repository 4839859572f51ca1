// Softmax over rows with an additive mask per batch (mask may be null): one block per row.
extern "C" __global__ void bs_softmax_forward(const float* x, float* y, int rowsPerBatch, int cols, float scale, const float* mask) {
    __shared__ float sh[32];
    long long r = blockIdx.x;
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float* mr = mask ? mask + (r / rowsPerBatch) * cols : 0;
    float mx = BS_NEG_INF;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = scale * xr[i] + (mr ? mr[i] : 0.0f);
        mx = fmaxf(mx, v);
    }
    mx = bs_block_max(mx, sh);
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += expf(scale * xr[i] + (mr ? mr[i] : 0.0f) - mx);
    s = bs_block_sum(s, sh);
    float inv = 1.0f / s;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) yr[i] = expf(scale * xr[i] + (mr ? mr[i] : 0.0f) - mx) * inv;
}

// dx = scale·y ⊙ (dy − Σ dy⊙y); dx may alias dy (each element read and written by one thread).
extern "C" __global__ void bs_softmax_backward(const float* y, const float* dy, float* dx, int cols, float scale) {
    __shared__ float sh[32];
    long long r = blockIdx.x;
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float d = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) d += dyr[i] * yr[i];
    d = bs_block_sum(d, sh);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) dxr[i] = scale * yr[i] * (dyr[i] - d);
}
