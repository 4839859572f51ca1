// Softmax cross-entropy over rows as wide as a vocabulary: one block per row. With a bias (the fused MLM decoder
// output), logits += bias in place; each thread writes only its own elements. The loss, logsumexp and argmax come from
// the float32 values logit + bias, not from what a bf16 row stores (the row is stored rounded, computed on unrounded):
// the target's value reaches thread 0 through shared memory (shTarget) rather than by reading the row back.
// argmax is the first index of the row's maximum (argmax may be null).
// A target outside [0, cols) that is not the ignore index is reported (bs_report) and its loss set to NaN.
// shv, shi, sh: 32 floats, 32 ints, 32 floats of shared memory; shTarget: one float.
template <typename T> __device__ void bs_cross_entropy_forward_t(T* logits, const float* bias, int cols, const int* targets, int ignoreIndex,
                                                                 float* losses, float* logSumExp, int* argmax, u64* report,
                                                                 float* shv, int* shi, float* sh, float* shTarget) {
    long long r = blockIdx.x;
    T* row = logits + r * cols;
    int t = targets[r];
    float best = BS_NEG_INF;
    int bestIndex = 0x7fffffff;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = bs_ld(row, i);
        if (bias) v += bias[i];
        if (v > best) { best = v; bestIndex = i; }
    }
    // (value, index) reduction: larger value wins, the smaller index on ties.
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, bestIndex, o);
        if (ov > best || (ov == best && oi < bestIndex)) { best = ov; bestIndex = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) { shv[warp] = best; shi[warp] = bestIndex; }
    __syncthreads();
    if (warp == 0) {
        best = lane < warps ? shv[lane] : BS_NEG_INF;
        bestIndex = lane < warps ? shi[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, best, o);
            int oi = __shfl_xor_sync(0xffffffffu, bestIndex, o);
            if (ov > best || (ov == best && oi < bestIndex)) { best = ov; bestIndex = oi; }
        }
        if (lane == 0) { shv[0] = best; shi[0] = bestIndex; }
    }
    __syncthreads();
    float mx = shv[0];
    int am = shi[0];
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = bs_ld(row, i);
        if (bias) { v += bias[i]; bs_st(row, i, v); }
        if (i == t) *shTarget = v;
        s += expf(v - mx);
    }
    s = bs_block_sum(s, sh); // its barriers also publish *shTarget
    if (threadIdx.x == 0) {
        float lse = mx + logf(s);
        logSumExp[r] = lse;
        bool bad = t != ignoreIndex && (unsigned)t >= (unsigned)cols;
        if (bad) bs_report(report, r, t);
        losses[r] = t == ignoreIndex ? 0.0f : bad ? __int_as_float(0x7fc00000) : lse - *shTarget;
        if (argmax) argmax[r] = am == 0x7fffffff ? 0 : am;
    }
}

extern "C" __global__ void bs_cross_entropy_forward(float* logits, const float* bias, int cols, const int* targets, int ignoreIndex,
                                                    float* losses, float* logSumExp, int* argmax, u64* report) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    __shared__ float sh[32];
    __shared__ float shTarget[1];
    bs_cross_entropy_forward_t(logits, bias, cols, targets, ignoreIndex, losses, logSumExp, argmax, report, shv, shi, sh, shTarget);
}

extern "C" __global__ void bs_cross_entropy_forward_bf16(bf16_t* logits, const float* bias, int cols, const int* targets, int ignoreIndex,
                                                         float* losses, float* logSumExp, int* argmax, u64* report) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    __shared__ float sh[32];
    __shared__ float shTarget[1];
    bs_cross_entropy_forward_t(logits, bias, cols, targets, ignoreIndex, losses, logSumExp, argmax, report, shv, shi, sh, shTarget);
}

// One element of d(logits): scale·(softmax − onehot), softmax from the forward's logsumexp. Shared by the backward
// and the bf16 fused bias gradient (BsCrossEntropyGrad, layernorm.cu), so both sum the same float32 values.
__device__ __forceinline__ float bs_cross_entropy_grad(float logit, float lse, bool isTarget, float scale) {
    float pr = expf(logit - lse);
    return scale * (isTarget ? pr - 1.0f : pr);
}

// dlogits = scale·(softmax(row) − onehot(target)), zero rows for ignored targets; dlogits may alias logits. A target
// outside [0, cols) that is not the ignore index is reported and its row zeroed.
template <typename T> __device__ void bs_cross_entropy_backward_t(const T* logits, const float* logSumExp, const int* targets, int ignoreIndex,
                                                                  int cols, float scale, T* dlogits, u64* report) {
    long long r = blockIdx.x;
    const T* row = logits + r * cols;
    T* drow = dlogits + r * cols;
    int t = targets[r];
    bool bad = t != ignoreIndex && (unsigned)t >= (unsigned)cols;
    if (bad && threadIdx.x == 0) bs_report(report, r, t);
    if (t == ignoreIndex || bad) {
        for (int i = threadIdx.x; i < cols; i += blockDim.x) bs_st(drow, i, 0.0f);
        return;
    }
    float lse = logSumExp[r];
    for (int i = threadIdx.x; i < cols; i += blockDim.x) bs_st(drow, i, bs_cross_entropy_grad(bs_ld(row, i), lse, i == t, scale));
}

extern "C" __global__ void bs_cross_entropy_backward(const float* logits, const float* logSumExp, const int* targets, int ignoreIndex,
                                                     int cols, float scale, float* dlogits, u64* report) {
    bs_cross_entropy_backward_t(logits, logSumExp, targets, ignoreIndex, cols, scale, dlogits, report);
}

extern "C" __global__ void bs_cross_entropy_backward_bf16(const bf16_t* logits, const float* logSumExp, const int* targets, int ignoreIndex,
                                                          int cols, float scale, bf16_t* dlogits, u64* report) {
    bs_cross_entropy_backward_t(logits, logSumExp, targets, ignoreIndex, cols, scale, dlogits, report);
}
