// rope.cu: rotary position embedding, in place.
//
// Launch (CONTRACT.md): grid (n_tok, n_heads), block (rope_dim / 2). Block (t, h) rotates the head
// starting at x + (t * n_heads + h) * head_dim; thread i rotates pair i with the angle
// theta = pos[t] * pos_scale * inv_freq[i], computed in double as the CPU backend does, then
// c = (float)cos(theta) * mscale, s = (float)sin(theta) * mscale. neox == 0 pairs (2i, 2i + 1),
// neox == 1 pairs (i, i + rope_dim / 2); (a, b) -> (a c - b s, a s + b c). Values at
// rope_dim .. head_dim - 1 are not touched. Products are rounded separately (no fused
// multiply-add), as in the CPU backend.
#include "common.cuh"

extern "C" __global__ void rope(float* x, int n_heads, int head_dim, int rope_dim, const int* __restrict__ pos,
                                const double* __restrict__ inv_freq, float pos_scale, float mscale, int neox, int n_tok) {
    const int t = blockIdx.x, h = blockIdx.y, i = threadIdx.x;
    const int half = rope_dim / 2;
    if (t >= n_tok || h >= n_heads || i >= half) return;
    const double theta = (double)pos[t] * (double)pos_scale * inv_freq[i];
    double sn, cs;
    sincos(theta, &sn, &cs);
    const float c = __fmul_rn((float)cs, mscale), s = __fmul_rn((float)sn, mscale);
    float* p = x + ((i64)t * n_heads + h) * head_dim;
    const int a = neox ? i : 2 * i;
    const int b = neox ? i + half : 2 * i + 1;
    const float x0 = p[a], x1 = p[b];
    p[a] = __fmul_rn(x0, c) - __fmul_rn(x1, s);
    p[b] = __fmul_rn(x0, s) + __fmul_rn(x1, c);
}
