// Softmax over rows with an additive mask per batch (mask may be null): one block per row. sh: 32 floats of shared memory.
template <typename T> __device__ void bs_softmax_forward_t(const T* x, T* y, int rowsPerBatch, int cols, float scale, const float* mask, float* sh) {
    long long r = blockIdx.x;
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const float* mr = mask ? mask + (r / rowsPerBatch) * cols : 0;
    float mx = BS_NEG_INF;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = scale * bs_ld(xr, i) + (mr ? mr[i] : 0.0f);
        mx = fmaxf(mx, v);
    }
    mx = bs_block_max(mx, sh);
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += expf(scale * bs_ld(xr, i) + (mr ? mr[i] : 0.0f) - mx);
    s = bs_block_sum(s, sh);
    float inv = 1.0f / s;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) bs_st(yr, i, expf(scale * bs_ld(xr, i) + (mr ? mr[i] : 0.0f) - mx) * inv);
}

extern "C" __global__ void bs_softmax_forward(const float* x, float* y, int rowsPerBatch, int cols, float scale, const float* mask) {
    __shared__ float sh[32];
    bs_softmax_forward_t(x, y, rowsPerBatch, cols, scale, mask, sh);
}

extern "C" __global__ void bs_softmax_forward_bf16(const bf16_t* x, bf16_t* y, int rowsPerBatch, int cols, float scale, const float* mask) {
    __shared__ float sh[32];
    bs_softmax_forward_t(x, y, rowsPerBatch, cols, scale, mask, sh);
}

// dx = scale·y ⊙ (dy − Σ dy⊙y); dx may alias dy (each element read and written by one thread).
template <typename T> __device__ void bs_softmax_backward_t(const T* y, const T* dy, T* dx, int cols, float scale, float* sh) {
    long long r = blockIdx.x;
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    float d = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) d += bs_ld(dyr, i) * bs_ld(yr, i);
    d = bs_block_sum(d, sh);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) bs_st(dxr, i, scale * bs_ld(yr, i) * (bs_ld(dyr, i) - d));
}

extern "C" __global__ void bs_softmax_backward(const float* y, const float* dy, float* dx, int cols, float scale) {
    __shared__ float sh[32];
    bs_softmax_backward_t(y, dy, dx, cols, scale, sh);
}

extern "C" __global__ void bs_softmax_backward_bf16(const bf16_t* y, const bf16_t* dy, bf16_t* dx, int cols, float scale) {
    __shared__ float sh[32];
    bs_softmax_backward_t(y, dy, dx, cols, scale, sh);
}
