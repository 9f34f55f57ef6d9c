//! Scalar Rust references: the specification every kernel of every tier is checked against, and
//! the entries every kernel table starts from.

/// sum(a[i] * b[i]), with 8 independent accumulators (the compiler vectorizes it for the build
/// target's baseline ISA).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// SwiGLU: `gate[i] = silu(gate[i]) * up[i]`, silu(x) = x / (1 + exp(-x)).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = *g;
        *g = x / (1.0 + (-x).exp()) * u;
    }
}

/// `sqrt(2 / pi)`, of GELU's tanh approximation.
pub const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// GeGLU: `gate[i] = gelu(gate[i]) * up[i]`, GELU in its tanh approximation
/// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = *g;
        *g = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh()) * u;
    }
}

/// GEMM microkernel reference, dot-product form: a 4 x 4 tile
/// `c[t * ldc + r] = sum_{i < k} w[r * ldw + i] * x[t * ldx + i]` for r, t in 0..4.
pub fn gemm_f32_4x4(w: &[f32], ldw: usize, x: &[f32], ldx: usize, k: usize, c: &mut [f32], ldc: usize) {
    for t in 0..4 {
        for r in 0..4 {
            c[t * ldc + r] = dot_f32(&w[r * ldw..r * ldw + k], &x[t * ldx..t * ldx + k]);
        }
    }
}

/// GEMM microkernel reference over packed panels, broadcast (outer-product) form: an `mr x nr`
/// tile of C accumulated in place,
/// `c[t * ldc + r] = fma(wp[k * nr + r], xp[k * mr + t], c[t * ldc + r])` for k = 0, 1, .. kc - 1
/// in that order, one rounding per step; `fresh`: C starts from +0.0 instead (and is not read). `wp` holds nr weight rows packed k-major, `xp` mr
/// tokens packed k-major. Every kernel of this shape must give exactly these bits, so a result
/// never depends on which tile its row or token sits in, or on how k is split between calls.
pub fn gemm_packed(mr: usize, nr: usize, wp: &[f32], xp: &[f32], kc: usize, c: &mut [f32], ldc: usize, fresh: bool) {
    for t in 0..mr {
        for r in 0..nr {
            let mut acc = if fresh { 0.0 } else { c[t * ldc + r] };
            for k in 0..kc {
                acc = wp[k * nr + r].mul_add(xp[k * mr + t], acc);
            }
            c[t * ldc + r] = acc;
        }
    }
}

/// 16 x 16 transpose: `dst[j * ldd + i] = src[i * lds + j]` for i, j in 0..16.
pub fn transpose_16x16(src: &[f32], lds: usize, dst: &mut [f32], ldd: usize) {
    for i in 0..16 {
        for j in 0..16 {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
}

/// Attention scores of one query against `out.len()` cached keys, `stride` floats apart:
/// `out[j] = scale * dot(q, k[j * stride..j * stride + q.len()])`. Returns the largest score
/// (-inf when there are none), which the softmax subtracts before exponentiating.
pub fn attn_scores(q: &[f32], k: &[f32], stride: usize, scale: f32, out: &mut [f32]) -> f32 {
    let hd = q.len();
    let mut max = f32::NEG_INFINITY;
    for (j, o) in out.iter_mut().enumerate() {
        *o = scale * dot_f32(q, &k[j * stride..j * stride + hd]);
        max = max.max(*o);
    }
    max
}

/// Softmax numerators in place, `x[i] = exp(x[i] - max)`; returns their sum (the denominator).
/// `max` is the largest of the values, so every argument of exp is at most 0.
pub fn attn_softmax(x: &mut [f32], max: f32) -> f32 {
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    sum
}

/// Probability-weighted sum of `p.len()` cached value rows, `stride` floats apart, into `acc`:
/// `acc[d] += sum_j p[j] * v[j * stride + d]` for d < acc.len().
pub fn attn_accum(p: &[f32], v: &[f32], stride: usize, acc: &mut [f32]) {
    let hd = acc.len();
    for (j, &w) in p.iter().enumerate() {
        for (a, &x) in acc.iter_mut().zip(&v[j * stride..j * stride + hd]) {
            *a += w * x;
        }
    }
}

/// Int8 GEMM microkernel over packed panels (the specification of the `gemm_q8a` kernels): a tile
/// of `mr` tokens x `nr` weight rows, `nu` units of `4 g` values of k (g = 8 or 4 groups).
///
/// Per unit, the weight panel `wp` holds (`(4 g + 8) nr` bytes) the rows' levels
/// (`crate::quant::levels`) as `[g groups][nr rows][4]` u8 (row r's levels 4 j .. 4 j + 3 of
/// the unit in group j), then `scale[nr]` and `min[nr]` as little-endian f32; the activation
/// panel `xp` (`(8 g + 8) mr` bytes) holds the tokens' Q8A planes as
/// `[2 planes][g groups][mr tokens][4]` i8, then `[mr tokens][e, s]` f32, s the unit's own sum
/// `e sum(256 q1 + q2)`. For each token t and row r, in unit order:
///
/// ```text
/// I   = 256 sum(l q1) + sum(l q2)                        (exact in i32)
/// acc = fma(I as f32, scale[r] * e[t], acc);  acc = fma(min[r], s[t], acc)
/// ```
///
/// from `acc = fresh ? +0.0 : c[t * ldc + r]`, stored back to `c[t * ldc + r]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_q8a(mr: usize, nr: usize, g: usize, wp: &[u8], xp: &[u8], nu: usize, c: &mut [f32], ldc: usize, fresh: bool) {
    let f32_at = |b: &[u8], i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let (wu, xu) = ((4 * g + 8) * nr, (8 * g + 8) * mr);
    for t in 0..mr {
        for r in 0..nr {
            let mut acc = if fresh { 0.0 } else { c[t * ldc + r] };
            for u in 0..nu {
                let (w, x) = (&wp[u * wu..(u + 1) * wu], &xp[u * xu..(u + 1) * xu]);
                let mut planes = [0i32; 2];
                for (p, sum) in planes.iter_mut().enumerate() {
                    for j in 0..g {
                        for b in 0..4 {
                            *sum += w[(j * nr + r) * 4 + b] as i32 * x[((p * g + j) * mr + t) * 4 + b] as i8 as i32;
                        }
                    }
                }
                let i = 256 * planes[0] + planes[1];
                let (scale, min) = (f32_at(w, 4 * g * nr + 4 * r), f32_at(w, (4 * g + 4) * nr + 4 * r));
                let (e, s) = (f32_at(x, 8 * g * mr + 8 * t), f32_at(x, 8 * g * mr + 8 * t + 4));
                acc = (i as f32).mul_add(scale * e, acc);
                acc = min.mul_add(s, acc);
            }
            c[t * ldc + r] = acc;
        }
    }
}
