// Σx² in double in a fixed order: a fixed number of blocks (LaunchGeometry.SumOfSquaresBlocks), each summing a
// strided set of elements and reducing in a fixed tree, then one block adding the partials.
extern "C" __global__ void bs_sum_squares_partial(const float* x, long long n, double* partials) {
    __shared__ double sh[32];
    double s = 0.0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        double v = (double)x[i];
        s += v * v;
    }
    s = bs_block_sum_d(s, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

extern "C" __global__ void bs_sum_partials(const double* partials, int count, double* out) {
    __shared__ double sh[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
    s = bs_block_sum_d(s, sh);
    if (threadIdx.x == 0) out[0] = s;
}

// stats[0] = Σ loss (double), stats[1] = correct, stats[2] = counted, over rows whose target is not ignoreIndex.
extern "C" __global__ void bs_loss_statistics(const float* losses, const int* argmax, const int* targets, int ignoreIndex,
                                              long long n, float* stats) {
    __shared__ double sh[32];
    double s = 0.0, correct = 0.0, count = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        int t = targets[i];
        if (t == ignoreIndex) continue;
        s += (double)losses[i];
        count += 1.0;
        if (argmax[i] == t) correct += 1.0;
    }
    s = bs_block_sum_d(s, sh);
    correct = bs_block_sum_d(correct, sh);
    count = bs_block_sum_d(count, sh);
    if (threadIdx.x == 0) { stats[0] = (float)s; stats[1] = (float)correct; stats[2] = (float)count; }
}
