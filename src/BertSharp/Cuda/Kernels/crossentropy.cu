// Softmax cross-entropy over rows as wide as a vocabulary: one block per row. With a bias (the fused MLM decoder
// output), logits += bias in place first; each thread re-reads only the elements it wrote.
// argmax is the first index of the row's maximum (argmax may be null).
// A target outside [0, cols) that is not the ignore index is reported (bs_report) and its loss set to NaN.
extern "C" __global__ void bs_cross_entropy_forward(float* logits, const float* bias, int cols, const int* targets, int ignoreIndex,
                                                    float* losses, float* logSumExp, int* argmax, u64* report) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    __shared__ float sh[32];
    long long r = blockIdx.x;
    float* row = logits + r * cols;
    float best = BS_NEG_INF;
    int bestIndex = 0x7fffffff;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = row[i];
        if (bias) { v += bias[i]; row[i] = v; }
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
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += expf(row[i] - mx);
    s = bs_block_sum(s, sh);
    if (threadIdx.x == 0) {
        float lse = mx + logf(s);
        int t = targets[r];
        logSumExp[r] = lse;
        bool bad = t != ignoreIndex && (unsigned)t >= (unsigned)cols;
        if (bad) bs_report(report, r, t);
        losses[r] = t == ignoreIndex ? 0.0f : bad ? __int_as_float(0x7fc00000) : lse - row[t];
        if (argmax) argmax[r] = am == 0x7fffffff ? 0 : am;
    }
}

// dlogits = scale·(softmax(row) − onehot(target)), zero rows for ignored targets; dlogits may alias logits. A target
// outside [0, cols) that is not the ignore index is reported and its row zeroed.
extern "C" __global__ void bs_cross_entropy_backward(const float* logits, const float* logSumExp, const int* targets, int ignoreIndex,
                                                     int cols, float scale, float* dlogits, u64* report) {
    long long r = blockIdx.x;
    const float* row = logits + r * cols;
    float* drow = dlogits + r * cols;
    int t = targets[r];
    bool bad = t != ignoreIndex && (unsigned)t >= (unsigned)cols;
    if (bad && threadIdx.x == 0) bs_report(report, r, t);
    if (t == ignoreIndex || bad) {
        for (int i = threadIdx.x; i < cols; i += blockDim.x) drow[i] = 0.0f;
        return;
    }
    float lse = logSumExp[r];
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float pr = expf(row[i] - lse);
        drow[i] = scale * (i == t ? pr - 1.0f : pr);
    }
}
