// attention.cu: paged KV cache store and flash-decoding attention (split over keys, then combined).
//
// kv_store: grid (n_tok), block 256; block t copies k and v of token t into cache slot slots[t]
//   (a negative slot is skipped).
//
// attention_split: grid (n_rows, n_head, n_splits), block 128 = 4 warps. Block (i, h, s) takes
//   query row r = rows ? rows[i] : i (q, row_seq, row_pos are indexed by r; the partial buffers by
//   i), head h, and the key positions p of split s:
//     lo = window > 0 ? max(0, row_pos[r] - window + 1) : 0,
//     p in [lo + s * split_len, min(lo + (s + 1) * split_len, row_pos[r] + 1))   (maybe empty),
//   where split_len <= 0 stands for the row's own ceil((row_pos[r] - lo + 1) / n_splits).
//   Lane l of every warp holds the query values d = l, l + 32, ... (< head_dim, scaled by `scale`)
//   in registers, and the matching output accumulators. Warp w takes the keys in groups of 4:
//   positions p0 + 4 w + 16 i .. + 3. For each group the lanes form partial dot products over
//   their dimensions (coalesced 128-byte reads of each key row), reduce them with __shfl_xor_sync
//   (every lane gets the 4 scores), and update the warp's running softmax state (max m, sum l,
//   unnormalised output o) online. The 4 warp states are then merged in shared memory:
//   M = max m_w, l = sum l_w exp(m_w - M), o[d] = sum o_w[d] exp(m_w - M).
//   Written: part_o[idx * head_dim + d] = o[d], part_ml[2 idx] = M (-inf if no key),
//   part_ml[2 idx + 1] = l (0 if no key), idx = (i * n_head + h) * n_splits + s. An empty split
//   writes o = 0, so the combine never multiplies garbage by 0.
//   head_dim <= 256: the per-lane arrays are sized by a template argument NI = ceil(head_dim / 32).
//
// attention_combine: grid (n_rows, n_head), block (head_dim). Block (i, h), r = rows ? rows[i] : i,
//   partial index (i * n_head + h) * n_splits + s; thread d:
//   out[(r * n_head + h) * head_dim + d] = sum_s exp(m_s - M) o_s[d] / sum_s exp(m_s - M) l_s,
//   M = max_s m_s; a row that saw no key at all gets 0.
#include "common.cuh"

extern "C" __global__ void kv_store(const float* __restrict__ k, const float* __restrict__ v, float* __restrict__ kc, float* __restrict__ vc,
                                    const int* __restrict__ slots, int kv_dim, int n_tok) {
    const int t = blockIdx.x;
    if (t >= n_tok) return;
    const int slot = slots[t];
    if (slot < 0) return;
    const i64 src = (i64)t * kv_dim, dst = (i64)slot * kv_dim;
    for (int c = threadIdx.x; c < kv_dim; c += blockDim.x) {
        kc[dst + c] = k[src + c];
        vc[dst + c] = v[src + c];
    }
}

#define AT_WARPS 4
#define AT_KB 4  // keys per warp step

template <int NI>
__device__ __forceinline__ void attention_split_impl(const float* __restrict__ q, const float* __restrict__ kc, const float* __restrict__ vc,
                                                     const int* __restrict__ block_table, const int* __restrict__ row_seq,
                                                     const int* __restrict__ row_pos, float* __restrict__ part_o, float* __restrict__ part_ml,
                                                     int n_head, int n_kv_head, int head_dim, int block_size, int max_blocks, float scale,
                                                     int window, int n_splits, int split_len, const int* __restrict__ rows) {
    __shared__ float so[AT_WARPS][256];
    __shared__ float sm[AT_WARPS], sl[AT_WARPS];

    const int bi = blockIdx.x, h = blockIdx.y, s = blockIdx.z;
    const int r = rows ? rows[bi] : bi;  // query row; the partial buffers are indexed by bi
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int pos = row_pos[r];
    const int lo = window > 0 ? max(0, pos - window + 1) : 0;
    if (split_len <= 0) split_len = (pos - lo + 1 + n_splits - 1) / n_splits;  // this row's own split length
    const int p0 = lo + s * split_len;
    const int p1 = min(p0 + split_len, pos + 1);  // keys p0 .. p1 - 1 (none if p1 <= p0)
    const int kvh = h / (n_head / n_kv_head);
    const i64 kv_dim = (i64)n_kv_head * head_dim;
    const int* bt = block_table + (i64)row_seq[r] * max_blocks;

    const float* qp = q + ((i64)r * n_head + h) * head_dim;
    float qv[NI], o[NI];
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const int d = lane + 32 * i;
        qv[i] = d < head_dim ? qp[d] * scale : 0.0f;
        o[i] = 0.0f;
    }
    float m = LN_NEG_INF, l = 0.0f;

    for (int pb = p0 + wid * AT_KB; pb < p1; pb += AT_WARPS * AT_KB) {
        float sc[AT_KB];
        const float* vp[AT_KB];
#pragma unroll
        for (int j = 0; j < AT_KB; j++) {
            const int p = pb + j;
            sc[j] = 0.0f;
            vp[j] = vc;
            if (p < p1) {
                const i64 slot = (i64)bt[p / block_size] * block_size + p % block_size;
                const i64 off = slot * kv_dim + (i64)kvh * head_dim;
                const float* kp = kc + off;
                vp[j] = vc + off;
#pragma unroll
                for (int i = 0; i < NI; i++) {
                    const int d = lane + 32 * i;
                    if (d < head_dim) sc[j] = fmaf(qv[i], kp[d], sc[j]);
                }
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
#pragma unroll
            for (int j = 0; j < AT_KB; j++) sc[j] += __shfl_xor_sync(0xffffffffu, sc[j], off);

        // pb < p1, so key 0 of the group exists and mx is finite (for finite scores).
        float mx = m;
#pragma unroll
        for (int j = 0; j < AT_KB; j++)
            if (pb + j < p1) mx = fmaxf(mx, sc[j]);
        const float corr = expf(m - mx);  // exp(-inf) = 0 on the first group
        l *= corr;
#pragma unroll
        for (int i = 0; i < NI; i++) o[i] *= corr;
#pragma unroll
        for (int j = 0; j < AT_KB; j++) {
            if (pb + j < p1) {
                const float pj = expf(sc[j] - mx);
                l += pj;
#pragma unroll
                for (int i = 0; i < NI; i++) {
                    const int d = lane + 32 * i;
                    if (d < head_dim) o[i] = fmaf(pj, vp[j][d], o[i]);
                }
            }
        }
        m = mx;
    }

    // Merge the 4 warps.
    if (lane == 0) {
        sm[wid] = m;
        sl[wid] = l;
    }
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const int d = lane + 32 * i;
        if (d < head_dim) so[wid][d] = o[i];
    }
    __syncthreads();

    float M = LN_NEG_INF;
#pragma unroll
    for (int w = 0; w < AT_WARPS; w++) M = fmaxf(M, sm[w]);
    float f[AT_WARPS];  // weight of each warp's state; 0 for a warp that saw no key
#pragma unroll
    for (int w = 0; w < AT_WARPS; w++) f[w] = (sm[w] == LN_NEG_INF) ? 0.0f : expf(sm[w] - M);

    const i64 idx = ((i64)bi * n_head + h) * n_splits + s;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.0f;
#pragma unroll
        for (int w = 0; w < AT_WARPS; w++) acc += f[w] * so[w][d];
        part_o[idx * head_dim + d] = acc;
    }
    if (threadIdx.x == 0) {
        float L = 0.0f;
#pragma unroll
        for (int w = 0; w < AT_WARPS; w++) L += f[w] * sl[w];
        part_ml[idx * 2] = M;
        part_ml[idx * 2 + 1] = L;
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attention_split(const float* __restrict__ q, const float* __restrict__ kc, const float* __restrict__ vc, const int* __restrict__ block_table,
                    const int* __restrict__ row_seq, const int* __restrict__ row_pos, float* __restrict__ part_o, float* __restrict__ part_ml,
                    int n_head, int n_kv_head, int head_dim, int block_size, int max_blocks, float scale, int window, int n_splits,
                    int split_len, const int* __restrict__ rows) {
#define AT_CASE(NI)                                                                                                         \
    case NI:                                                                                                                \
        attention_split_impl<NI>(q, kc, vc, block_table, row_seq, row_pos, part_o, part_ml, n_head, n_kv_head, head_dim, \
                                 block_size, max_blocks, scale, window, n_splits, split_len, rows);                               \
        break;
    switch ((head_dim + 31) >> 5) {
        AT_CASE(1)
        AT_CASE(2)
        AT_CASE(3)
        AT_CASE(4)
        AT_CASE(5)
        AT_CASE(6)
        AT_CASE(7)
        AT_CASE(8)
        default:
            break;  // head_dim > 256 is outside the contract
    }
#undef AT_CASE
}

extern "C" __global__ void attention_combine(const float* __restrict__ part_o, const float* __restrict__ part_ml, float* __restrict__ out,
                                             int n_head, int head_dim, int n_splits, const int* __restrict__ rows) {
    const int i = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
    if (d >= head_dim) return;
    const int r = rows ? rows[i] : i;  // out is indexed by r, the partial buffers by i
    const i64 base = ((i64)i * n_head + h) * n_splits;
    float M = LN_NEG_INF;
    for (int s = 0; s < n_splits; s++) M = fmaxf(M, part_ml[(base + s) * 2]);
    float num = 0.0f, den = 0.0f;
    if (M != LN_NEG_INF) {
        for (int s = 0; s < n_splits; s++) {
            const float ms = part_ml[(base + s) * 2];
            if (ms == LN_NEG_INF) continue;
            const float f = expf(ms - M);
            num += f * part_o[(base + s) * head_dim + d];
            den += f * part_ml[(base + s) * 2 + 1];
        }
    }
    // With M finite, the split holding M contributes exp(0) * l >= 1 to den.
    out[((i64)r * n_head + h) * head_dim + d] = M != LN_NEG_INF ? num / den : 0.0f;
}
