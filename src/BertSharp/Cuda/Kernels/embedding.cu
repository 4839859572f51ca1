// output[i, d] (=, or += when accumulate) table[ids[i], d]: one thread per output element; output is an activation (T),
// the table float32 (TT = float: a parameter) or, when the model gathers activation rows with it, of the output's type.
// An id outside [0, rows) is reported (bs_report) and its output row left alone.
template <typename T, typename TT> __device__ void bs_embedding_forward_t(const int* ids, const TT* table, int dim, T* output, long long count,
                                                                          int accumulate, int rows, u64* report) {
    long long n = count * dim;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long i = j / dim;
        int d = (int)(j - i * dim);
        int id = ids[i];
        if ((unsigned)id >= (unsigned)rows) {
            if (d == 0) bs_report(report, i, id);
            continue;
        }
        float v = bs_ld(table, (long long)id * dim + d);
        bs_st(output, j, accumulate ? bs_ld(output, j) + v : v);
    }
}

extern "C" __global__ void bs_embedding_forward(const int* ids, const float* table, int dim, float* output, long long count, int accumulate,
                                                int rows, u64* report) {
    bs_embedding_forward_t(ids, table, dim, output, count, accumulate, rows, report);
}

extern "C" __global__ void bs_embedding_forward_bf16(const int* ids, const float* table, int dim, bf16_t* output, long long count, int accumulate,
                                                     int rows, u64* report) {
    bs_embedding_forward_t(ids, table, dim, output, count, accumulate, rows, report);
}

// The gather of bf16 activation rows (the [CLS] rows, the masked positions): a bf16 table into bf16 output.
extern "C" __global__ void bs_embedding_gather_bf16(const int* ids, const bf16_t* table, int dim, bf16_t* output, long long count, int accumulate,
                                                    int rows, u64* report) {
    bs_embedding_forward_t(ids, table, dim, output, count, accumulate, rows, report);
}

// dtable[ids[i], d] += doutput[i, d], deterministic and parallel (no atomics), in three launches over the positions
// cut into chunks of `chunk` (LaunchGeometry.EmbeddingChunk, from the count alone):
//  1. bs_embedding_links: per position, flags (bit 0: first of its id in its chunk, the chunk's leader; bit 1: first of
//     its id overall) and next[i], the first position of the same id in a later chunk (that chunk's leader), or -1;
//  2. bs_embedding_chunk_sums: each chunk leader sums its id's rows within the chunk in index order into partial[i];
//  3. bs_embedding_scatter: each id's first position adds its chunks' partial sums in chunk order to the table row.
// One thread per (position, column); every chain is at most count / chunk long, every chunk sum at most chunk.
extern "C" __global__ void bs_embedding_links(const int* ids, long long count, int chunk, int* flags, int* next) {
    __shared__ int tile[BS_BLOCK];
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    bool live = i < count;
    int id = live ? ids[i] : 0;
    long long chunkStart = live ? i / chunk * chunk : 0, chunkEnd = chunkStart + chunk;
    bool leader = true, first = true;
    long long after = -1;
    for (long long base = 0; base < count; base += blockDim.x) {
        long long j = base + threadIdx.x;
        tile[threadIdx.x] = j < count ? ids[j] : 0;
        __syncthreads();
        int span = (int)(count - base < (long long)blockDim.x ? count - base : (long long)blockDim.x);
        if (live)
            for (int k = 0; k < span; k++) {
                long long jj = base + k;
                if (tile[k] != id) continue;
                if (jj < i) { first = false; if (jj >= chunkStart) leader = false; }
                else if (jj >= chunkEnd && after < 0) after = jj;
            }
        __syncthreads();
    }
    if (live) {
        flags[i] = (leader ? 1 : 0) | (first ? 2 : 0);
        next[i] = (int)after;
    }
}

// grid (count, ⌈dim / 128⌉), 128 threads: block x = position i, threads = columns. doutput is an activation (T).
template <typename T> __device__ void bs_embedding_chunk_sums_t(const int* ids, const T* doutput, long long count, int dim, int chunk,
                                                                const int* flags, float* partial) {
    long long i = blockIdx.x;
    int d = blockIdx.y * blockDim.x + threadIdx.x;
    if (d >= dim || !(flags[i] & 1)) return;
    int id = ids[i];
    long long end = (i / chunk + 1) * chunk;
    if (end > count) end = count;
    float acc = 0.0f;
    for (long long j = i; j < end; j++)
        if (ids[j] == id) acc += bs_ld(doutput, j * dim + d);
    partial[i * dim + d] = acc;
}

extern "C" __global__ void bs_embedding_chunk_sums(const int* ids, const float* doutput, long long count, int dim, int chunk,
                                                   const int* flags, float* partial) {
    bs_embedding_chunk_sums_t(ids, doutput, count, dim, chunk, flags, partial);
}

extern "C" __global__ void bs_embedding_chunk_sums_bf16(const int* ids, const bf16_t* doutput, long long count, int dim, int chunk,
                                                        const int* flags, float* partial) {
    bs_embedding_chunk_sums_t(ids, doutput, count, dim, chunk, flags, partial);
}

// The scatter kernels' thread → (position, column, id): the first position of each id (bs_embedding_links' bit 1) and a
// column inside dim, with the id checked against the table's rows; -1 when this thread has nothing to add (an id outside
// [0, rows) is reported once, by column 0, and skipped).
__device__ __forceinline__ int bs_scatter_id(const int* ids, int dim, const int* flags, int rows, u64* report, long long i, int d) {
    if (d >= dim || !(flags[i] & 2)) return -1;
    int id = ids[i];
    if ((unsigned)id >= (unsigned)rows) {
        if (d == 0) bs_report(report, i, id);
        return -1;
    }
    return id;
}

// grid (count, ⌈dim / 128⌉), 128 threads. An id outside [0, rows) is reported and skipped.
extern "C" __global__ void bs_embedding_scatter(const int* ids, int dim, const int* flags, const int* next, const float* partial,
                                                float* dtable, int rows, u64* report) {
    long long i = blockIdx.x;
    int d = blockIdx.y * blockDim.x + threadIdx.x;
    int id = bs_scatter_id(ids, dim, flags, rows, report, i, d);
    if (id < 0) return;
    float acc = partial[i * dim + d];
    for (int j = next[i]; j >= 0; j = next[j]) acc += partial[(long long)j * dim + d];
    float* row = dtable + (long long)id * dim;
    row[d] += acc;
}

// The scatter-add of bf16 activation gradients back to bf16 rows (the pooler's [CLS] rows, the masked positions):
// drows[ids[i], d] += doutput[i, d] rounded after every add, in position order, as the CPU's Embedding.ScatterAdd
// (the model's rows are distinct, so each is rounded once). grid (count, ⌈dim / 128⌉), 128 threads: the first position
// of each id (bs_embedding_links' bit 1) walks the later positions of its id in order. An id outside [0, rows) is
// reported and skipped.
extern "C" __global__ void bs_embedding_scatter_rows_bf16(const int* ids, const bf16_t* doutput, long long count, int dim, const int* flags,
                                                          bf16_t* drows, int rows, u64* report) {
    long long i = blockIdx.x;
    int d = blockIdx.y * blockDim.x + threadIdx.x;
    int id = bs_scatter_id(ids, dim, flags, rows, report, i, d);
    if (id < 0) return;
    bf16_t* row = drows + (long long)id * dim;
    float acc = bs_ld(row, d);
    for (long long j = i; j < count; j++)
        if (ids[j] == id) acc = bs_bf2f(bs_f2bf(acc + bs_ld(doutput, j * dim + d)));
    bs_st(row, d, acc);
}
