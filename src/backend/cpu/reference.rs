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
/// in that order, one rounding per step. `wp` holds nr weight rows packed k-major, `xp` mr
/// tokens packed k-major. Every kernel of this shape must give exactly these bits, so a result
/// never depends on which tile its row or token sits in, or on how k is split between calls.
pub fn gemm_packed(mr: usize, nr: usize, wp: &[f32], xp: &[f32], kc: usize, c: &mut [f32], ldc: usize) {
    for t in 0..mr {
        for r in 0..nr {
            let mut acc = c[t * ldc + r];
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
