// The distillation losses (Tensors/SoftTargetLoss.cs, Tensors/CosineLoss.cs): one block per row. A row whose weight is
// 0 is not read (its loss 0, its gradient row zeroed, or left as it is when accumulating); the branch is uniform over
// the block, so every thread reaches the same barriers.

// Soft-target statistics of one row: the maxima ms, mt of s and t, then Za = Σ exp((s − ms)/T), Zb = Σ exp((t − mt)/T)
// and (cross) S = Σ exp((t − mt)/T)·(t − s), a p of exactly 0 contributing 0. 1/T is a multiplication by the float
// invT after the maximum is subtracted, as on the CPU. Per-thread sums in float32, combined in double.
// sh: 32 floats, shd: 32 doubles of shared memory.
__device__ void bs_soft_target_stats(const float* s, const float* t, int cols, float invT, bool cross,
                                     float* ms, float* mt, double* za, double* zb, double* sc, float* sh, double* shd) {
    float a = BS_NEG_INF, b = BS_NEG_INF;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) { a = fmaxf(a, s[i]); b = fmaxf(b, t[i]); }
    a = bs_block_max(a, sh);
    b = bs_block_max(b, sh);
    float sa = 0.0f, sb = 0.0f, sx = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float si = s[i], ti = t[i];
        sa += expf((si - a) * invT);
        float e = expf((ti - b) * invT);
        sb += e;
        if (cross && e != 0.0f) sx += e * (ti - si);
    }
    *ms = a;
    *mt = b;
    *za = bs_block_sum_d(sa, shd);
    *zb = bs_block_sum_d(sb, shd);
    *sc = cross ? bs_block_sum_d(sx, shd) : 0.0;
}

// losses[r] = w·T²·KL(p ‖ q) = w·T²·(invT·(S/Zb − (mt − ms)) + log(Za/Zb)) (Σ p = 1).
extern "C" __global__ void bs_soft_target_forward(const float* student, const float* teacher, const float* weights, int cols,
                                                  float temperature, float* losses) {
    __shared__ float sh[32];
    __shared__ double shd[32];
    long long r = blockIdx.x;
    float w = weights[r];
    if (w == 0.0f) {
        if (threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    float invT = 1.0f / temperature, ms, mt;
    double za, zb, sc;
    bs_soft_target_stats(student + r * cols, teacher + r * cols, cols, invT, true, &ms, &mt, &za, &zb, &sc, sh, shd);
    if (threadIdx.x == 0) {
        double kl = invT * (sc / zb - ((double)mt - ms)) + log(za / zb);
        losses[r] = (float)(w * ((double)temperature * temperature) * kl);
    }
}

// dstudent = scale·w·T·(q − p), q − p = exp((s − ms)/T − log Za) − exp((t − mt)/T − log Zb); accumulate: +=.
extern "C" __global__ void bs_soft_target_backward(const float* student, const float* teacher, const float* weights, int cols,
                                                   float temperature, float scale, float* dstudent, int accumulate) {
    __shared__ float sh[32];
    __shared__ double shd[32];
    long long r = blockIdx.x;
    const float* s = student + r * cols;
    const float* t = teacher + r * cols;
    float* d = dstudent + r * cols;
    float w = weights[r];
    if (w == 0.0f) {
        if (!accumulate) for (int i = threadIdx.x; i < cols; i += blockDim.x) d[i] = 0.0f;
        return;
    }
    float invT = 1.0f / temperature, ms, mt;
    double za, zb, sc;
    bs_soft_target_stats(s, t, cols, invT, false, &ms, &mt, &za, &zb, &sc, sh, shd);
    float la = (float)log(za), lb = (float)log(zb), c = scale * w * temperature;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float g = c * (expf((s[i] - ms) * invT - la) - expf((t[i] - mt) * invT - lb));
        d[i] = accumulate ? d[i] + g : g;
    }
}

// a·b, ‖a‖², ‖b‖² of one row (activations T), every thread getting the three sums: per-thread float32 sums combined
// in double, the scalars in double (1 − cos cancels when the student is near the teacher). sh: 32 doubles of shared
// memory.
template <typename T> __device__ void bs_cosine_sums_t(const T* a, const T* b, int cols, double* dot, double* aa, double* bb, double* sh) {
    float d = 0.0f, p = 0.0f, q = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float x = bs_ld(a, i), y = bs_ld(b, i);
        d = fmaf(x, y, d);
        p = fmaf(x, x, p);
        q = fmaf(y, y, q);
    }
    *dot = bs_block_sum_d(d, sh);
    *aa = bs_block_sum_d(p, sh);
    *bb = bs_block_sum_d(q, sh);
}

// max(‖a‖‖b‖, 1e-8), a NaN kept (fmax would drop it; the CPU's Math.Max keeps it).
__device__ __forceinline__ double bs_cosine_denom(double norms) { return norms != norms ? norms : fmax(norms, 1e-8); }

// losses[r] = w·(1 − cos), cos = a·b / max(‖a‖‖b‖, 1e-8).
template <typename T> __device__ void bs_cosine_forward_t(const T* a, const T* b, const float* weights, int cols, float* losses, double* sh) {
    long long r = blockIdx.x;
    float w = weights[r];
    if (w == 0.0f) {
        if (threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    double dot, aa, bb;
    bs_cosine_sums_t(a + r * cols, b + r * cols, cols, &dot, &aa, &bb, sh);
    if (threadIdx.x == 0) losses[r] = (float)(w * (1.0 - dot / bs_cosine_denom(sqrt(aa) * sqrt(bb))));
}

extern "C" __global__ void bs_cosine_forward(const float* a, const float* b, const float* weights, int cols, float* losses) {
    __shared__ double sh[32];
    bs_cosine_forward_t(a, b, weights, cols, losses, sh);
}

extern "C" __global__ void bs_cosine_forward_bf16(const bf16_t* a, const bf16_t* b, const float* weights, int cols, float* losses) {
    __shared__ double sh[32];
    bs_cosine_forward_t(a, b, weights, cols, losses, sh);
}

// da = scale·w·(cos·a/‖a‖² − b/max(‖a‖‖b‖, 1e-8)), the a term only where the floor is not taken; accumulate: += (in
// float32, rounded once on a bf16 store). A NaN norm reaches every element through the denominator.
template <typename T> __device__ void bs_cosine_backward_t(const T* a, const T* b, const float* weights, int cols, float scale, T* da,
                                                           int accumulate, double* sh) {
    long long r = blockIdx.x;
    const T* ar = a + r * cols;
    const T* br = b + r * cols;
    T* dr = da + r * cols;
    float w = weights[r];
    if (w == 0.0f) {
        if (!accumulate) for (int i = threadIdx.x; i < cols; i += blockDim.x) bs_st(dr, i, 0.0f);
        return;
    }
    double dot, aa, bb;
    bs_cosine_sums_t(ar, br, cols, &dot, &aa, &bb, sh);
    double norms = sqrt(aa) * sqrt(bb);
    double denom = bs_cosine_denom(norms), cos = dot / denom, sw = (double)scale * w;
    float k1 = (float)(-sw / denom), k2 = norms >= 1e-8 ? (float)(sw * cos / aa) : 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float g = fmaf(k1, bs_ld(br, i), k2 * bs_ld(ar, i));
        bs_st(dr, i, accumulate ? bs_ld(dr, i) + g : g);
    }
}

extern "C" __global__ void bs_cosine_backward(const float* a, const float* b, const float* weights, int cols, float scale, float* da, int accumulate) {
    __shared__ double sh[32];
    bs_cosine_backward_t(a, b, weights, cols, scale, da, accumulate, sh);
}

extern "C" __global__ void bs_cosine_backward_bf16(const bf16_t* a, const bf16_t* b, const float* weights, int cols, float scale, bf16_t* da,
                                                   int accumulate) {
    __shared__ double sh[32];
    bs_cosine_backward_t(a, b, weights, cols, scale, da, accumulate, sh);
}
