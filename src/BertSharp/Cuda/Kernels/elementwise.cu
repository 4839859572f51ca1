// Element-wise kernels: grid-stride loops over n elements (launch geometry: LaunchGeometry.Elementwise). The
// activation kernels are templates over the storage T (float or bf16_t, common.cuh) with an entry point for each.

#define BS_GRID_LOOP(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)

template <typename T> __device__ void bs_add_t(T* y, const T* x, long long n) {
    BS_GRID_LOOP(i, n) bs_st(y, i, bs_ld(y, i) + bs_ld(x, i));
}
extern "C" __global__ void bs_add(float* y, const float* x, long long n) { bs_add_t(y, x, n); }
extern "C" __global__ void bs_add_bf16(bf16_t* y, const bf16_t* x, long long n) { bs_add_t(y, x, n); }

template <typename T> __device__ void bs_bias_add_t(T* y, const float* bias, long long rows, int cols) {
    long long n = rows * cols;
    BS_GRID_LOOP(i, n) bs_st(y, i, bs_ld(y, i) + bias[i % cols]);
}
extern "C" __global__ void bs_bias_add(float* y, const float* bias, long long rows, int cols) { bs_bias_add_t(y, bias, rows, cols); }
extern "C" __global__ void bs_bias_add_bf16(bf16_t* y, const float* bias, long long rows, int cols) { bs_bias_add_t(y, bias, rows, cols); }

// GELU, exact form: x·Φ(x).
template <typename T> __device__ void bs_gelu_t(const T* x, T* y, long long n) {
    BS_GRID_LOOP(i, n) {
        float v = bs_ld(x, i);
        bs_st(y, i, 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}
extern "C" __global__ void bs_gelu(const float* x, float* y, long long n) { bs_gelu_t(x, y, n); }
extern "C" __global__ void bs_gelu_bf16(const bf16_t* x, bf16_t* y, long long n) { bs_gelu_t(x, y, n); }

template <typename T> __device__ void bs_gelu_backward_t(const T* x, const T* dy, T* dx, long long n) {
    BS_GRID_LOOP(i, n) {
        float v = bs_ld(x, i);
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        bs_st(dx, i, bs_ld(dy, i) * (cdf + v * pdf));
    }
}
extern "C" __global__ void bs_gelu_backward(const float* x, const float* dy, float* dx, long long n) { bs_gelu_backward_t(x, dy, dx, n); }
extern "C" __global__ void bs_gelu_backward_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, long long n) { bs_gelu_backward_t(x, dy, dx, n); }

// GELU, tanh approximation, written as CPU's x / (1 + exp(-2u)), u = sqrt(2/pi)·(x + 0.044715·x³).
template <typename T> __device__ void bs_gelu_tanh_t(const T* x, T* y, long long n) {
    BS_GRID_LOOP(i, n) {
        float v = bs_ld(x, i);
        float u = 0.797884560802865356f * (0.044715f * v * (v * v) + v);
        bs_st(y, i, v / (1.0f + expf(-2.0f * u)));
    }
}
extern "C" __global__ void bs_gelu_tanh(const float* x, float* y, long long n) { bs_gelu_tanh_t(x, y, n); }
extern "C" __global__ void bs_gelu_tanh_bf16(const bf16_t* x, bf16_t* y, long long n) { bs_gelu_tanh_t(x, y, n); }

template <typename T> __device__ void bs_gelu_tanh_backward_t(const T* x, const T* dy, T* dx, long long n) {
    BS_GRID_LOOP(i, n) {
        float v = bs_ld(x, i), v2 = v * v;
        float u = 0.797884560802865356f * (0.044715f * v * v2 + v);
        float s = 1.0f / (1.0f + expf(-2.0f * u));
        float du2 = (2.0f * 0.797884560802865356f) * (3.0f * 0.044715f * v2 + 1.0f);
        bs_st(dx, i, bs_ld(dy, i) * (v * du2 * (s - s * s) + s));
    }
}
extern "C" __global__ void bs_gelu_tanh_backward(const float* x, const float* dy, float* dx, long long n) { bs_gelu_tanh_backward_t(x, dy, dx, n); }
extern "C" __global__ void bs_gelu_tanh_backward_bf16(const bf16_t* x, const bf16_t* dy, bf16_t* dx, long long n) { bs_gelu_tanh_backward_t(x, dy, dx, n); }

template <typename T> __device__ void bs_tanh_t(const T* x, T* y, long long n) {
    BS_GRID_LOOP(i, n) bs_st(y, i, tanhf(bs_ld(x, i)));
}
extern "C" __global__ void bs_tanh(const float* x, float* y, long long n) { bs_tanh_t(x, y, n); }
extern "C" __global__ void bs_tanh_bf16(const bf16_t* x, bf16_t* y, long long n) { bs_tanh_t(x, y, n); }

template <typename T> __device__ void bs_tanh_backward_t(const T* y, const T* dy, T* dx, long long n) {
    BS_GRID_LOOP(i, n) {
        float v = bs_ld(y, i);
        bs_st(dx, i, (1.0f - v * v) * bs_ld(dy, i));
    }
}
extern "C" __global__ void bs_tanh_backward(const float* y, const float* dy, float* dx, long long n) { bs_tanh_backward_t(y, dy, dx, n); }
extern "C" __global__ void bs_tanh_backward_bf16(const bf16_t* y, const bf16_t* dy, bf16_t* dx, long long n) { bs_tanh_backward_t(y, dy, dx, n); }

// Fused AdamW, torch.optim.AdamW's order (Tensors/AdamW.cs); the scalars are computed on the host as the CPU does.
extern "C" __global__ void bs_adamw(float* p, const float* grad, float* m, float* v, long long n,
                                    float decay, float oneMinusB1, float b2, float oneMinusB2,
                                    float stepSize, float invSqrtBc2, float eps, float gradScale) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float g = grad[i] * gradScale;
        float pi = p[i] * decay;
        float mi = m[i];
        mi = __fadd_rn(mi, __fmul_rn(oneMinusB1, __fsub_rn(g, mi)));
        float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(oneMinusB2, g), g));
        float denom = __fadd_rn(__fmul_rn(sqrtf(vi), invSqrtBc2), eps);
        pi = __fsub_rn(pi, __fmul_rn(stepSize, __fdiv_rn(mi, denom)));
        p[i] = pi; m[i] = mi; v[i] = vi;
    }
}

extern "C" __global__ void bs_attention_mask(const int* mask, float* additive, float maskValue, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        additive[i] = mask[i] != 0 ? 0.0f : maskValue;
}

extern "C" __global__ void bs_iota(int* out, int period, int stride, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = (int)(i / period) * stride + (int)(i % period);
}

extern "C" __global__ void bs_masked_lm_targets(const int* positions, const int* ids, const float* weights, int perRow,
                                                int seqLength, int ignoreIndex, int* rows, int* targets, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        rows[i] = (int)(i / perRow) * seqLength + positions[i];
        targets[i] = weights[i] > 0.0f ? ids[i] : ignoreIndex;
    }
}

extern "C" __global__ void bs_f32_to_bf16(const float* x, bf16_t* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = bs_f2bf(x[i]);
}

extern "C" __global__ void bs_bf16_to_f32(const bf16_t* x, float* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = bs_bf2f(x[i]);
}
