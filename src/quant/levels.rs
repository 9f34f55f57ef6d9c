//! Weights as unsigned 8-bit levels: the weight side of the int8 GEMM (prefill).
//!
//! Every 32 consecutive values of a row (a "unit") are written as
//!
//! ```text
//! x[i] = scale * l[i] + min        l[i] in 0..=255 (u8), scale and min f32 per unit
//! ```
//!
//! which each format below has exactly (the products and the sum round once, as the to-f32
//! references do, so `scale * l + min` gives the references' bits):
//!
//! ```text
//! Q8_0  l = q + 128            scale d        min -128 d
//! Q4_0  l = q (0..15)          scale d        min -8 d
//! Q4_1  l = q                  scale d        min m
//! Q5_0  l = q (0..31)          scale d        min -16 d
//! Q5_1  l = q                  scale d        min m
//! Q4_K  l = q (sub-block j)    scale d sc_j   min -dmin m_j
//! Q5_K  l = q                  scale d sc_j   min -dmin m_j
//! ```
//!
//! Unsigned levels are what `vpdpbusd` multiplies with the signed Q8A activation planes; the
//! min term comes back through the Q8A block sums (`s = e sum(256 q1 + q2)`), so a unit's dot
//! product with Q8A block b is `scale e_b I + min s_b` with I the exact integer dot product
//! (`crate::backend::cpu::reference::gemm_q8a`). Formats with 16-value scales (Q2_K, Q3_K, Q6_K)
//! have no single scale per unit and are not here.

use super::{f16_at, GgmlType};

/// Values per unit.
pub const QU: usize = 32;

/// The formats with levels.
pub const TYPES: [GgmlType; 7] =
    [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K];

pub fn has_levels(t: GgmlType) -> bool {
    TYPES.contains(&t)
}

/// The levels of whole blocks `src` of type `t`: `lv.len()` values (a multiple of the block
/// size), `scale.len() == min.len() == lv.len() / 32`. Panics for a type without levels.
pub fn row_levels(t: GgmlType, src: &[u8], lv: &mut [u8], scale: &mut [f32], min: &mut [f32]) {
    let n = lv.len();
    assert_eq!(Some(src.len()), t.row_bytes(n), "row_levels {}: length mismatch", t.name());
    assert!(scale.len() * QU == n && min.len() * QU == n, "row_levels: scales length");
    let (bs, ts) = (t.block_size(), t.type_size());
    let units = lv.chunks_exact_mut(bs).zip(scale.chunks_exact_mut(bs / QU)).zip(min.chunks_exact_mut(bs / QU));
    for (b, ((l, sc), mn)) in src.chunks_exact(ts).zip(units) {
        match t {
            GgmlType::Q8_0 => {
                let d = f16_at(b, 0);
                l.iter_mut().zip(&b[2..34]).for_each(|(l, &q)| *l = q ^ 0x80);
                (sc[0], mn[0]) = (d, -128.0 * d);
            }
            GgmlType::Q4_0 | GgmlType::Q4_1 => {
                let d = f16_at(b, 0);
                let (m, qs) = if t == GgmlType::Q4_0 { (-8.0 * d, &b[2..18]) } else { (f16_at(b, 2), &b[4..20]) };
                nibbles(qs, l);
                (sc[0], mn[0]) = (d, m);
            }
            GgmlType::Q5_0 | GgmlType::Q5_1 => {
                let d = f16_at(b, 0);
                let (m, o) = if t == GgmlType::Q5_0 { (-16.0 * d, 2) } else { (f16_at(b, 2), 4) };
                let qh = u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
                nibbles(&b[o + 4..o + 20], l);
                l.iter_mut().enumerate().for_each(|(j, l)| *l |= (((qh >> j) & 1) << 4) as u8);
                (sc[0], mn[0]) = (d, m);
            }
            GgmlType::Q4_K | GgmlType::Q5_K => {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let (qh, qs) = if t == GgmlType::Q4_K { (None, &b[16..144]) } else { (Some(&b[16..48]), &b[48..176]) };
                for j in 0..8 {
                    let (s, m) = super::kquants::scale_min_k4(j, &b[4..16]);
                    (sc[j], mn[j]) = (d * s as f32, -(dmin * m as f32));
                    // sub-block j: the low (even j) or high (odd j) nibbles of qs[32 (j / 2)..]
                    let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
                    let lj = &mut l[32 * j..32 * j + 32];
                    let shift = 4 * (j % 2);
                    lj.iter_mut().zip(q).for_each(|(l, &q)| *l = (q >> shift) & 0x0F);
                    if let Some(qh) = qh {
                        lj.iter_mut().zip(qh).for_each(|(l, &h)| *l |= ((h >> j) & 1) << 4);
                    }
                }
            }
            _ => panic!("no levels for {}", t.name()),
        }
    }
}

/// The 32 nibbles of 16 bytes in element order: low nibbles first, then high.
fn nibbles(qs: &[u8], l: &mut [u8]) {
    for (j, &q) in qs.iter().enumerate() {
        (l[j], l[j + 16]) = (q & 0x0F, q >> 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequantize_row, quantize_row};

    /// `scale * l + min` is the to-f32 reference, bit for bit, on quantized random rows (with a
    /// few raw random blocks for levels and scales the quantizers would not produce).
    #[test]
    fn levels_give_the_reference_values_exactly() {
        let mut seed = 0x1e7e15u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for t in TYPES {
            for n in [256, 512, 2304] {
                let x: Vec<f32> = (0..n).map(|_| (next() as f32 / u32::MAX as f32 - 0.5) * 3.0).collect();
                let mut src = vec![0u8; t.row_bytes(n).unwrap()];
                quantize_row(t, &x, &mut src);
                if n == 512 {
                    // raw bytes, with finite f16 scales (exponent field below 31)
                    src.iter_mut().for_each(|b| *b = next() as u8);
                    for b in src.chunks_exact_mut(t.type_size()) {
                        let nf = if matches!(t, GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K) { 2 } else { 1 };
                        for f in 0..nf {
                            b[2 * f + 1] &= 0x3B;
                        }
                    }
                }
                let mut want = vec![0f32; n];
                dequantize_row(t, &src, &mut want);
                let (mut lv, mut sc, mut mn) = (vec![0u8; n], vec![0f32; n / QU], vec![0f32; n / QU]);
                row_levels(t, &src, &mut lv, &mut sc, &mut mn);
                for i in 0..n {
                    let got = sc[i / QU] * lv[i] as f32 + mn[i / QU];
                    assert!(got == want[i], "{} n {n} value {i}: {got} vs {}", t.name(), want[i]);
                }
            }
        }
    }
}
