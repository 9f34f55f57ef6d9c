//! Weights as unsigned 8-bit levels: the weight side of the int8 GEMM (prefill).
//!
//! Every 32 (or, for formats with 16-value scales, 16) consecutive values of a row, a "unit", are
//! written as
//!
//! ```text
//! x[i] = scale * l[i] + min        l[i] in 0..=255 (u8), scale and min f32 per unit
//! ```
//!
//! which each format below has exactly (scale, min and `scale * l + min` computed without
//! rounding are the reference's value before its one rounding to f32):
//!
//! ```text
//! Q8_0  l = q + 128            scale d        min -128 d
//! Q4_0  l = q (0..15)          scale d        min -8 d
//! Q4_1  l = q                  scale d        min m
//! Q5_0  l = q (0..31)          scale d        min -16 d
//! Q5_1  l = q                  scale d        min m
//! Q4_K  l = q (sub-block j)    scale d sc_j   min -dmin m_j
//! Q5_K  l = q                  scale d sc_j   min -dmin m_j
//! Q6_K  l = q (0..63, 16/unit) scale d sc_j   min -32 d sc_j
//! Q2_K  l = q (0..3, 16/unit)  scale d sc_j   min -dmin m_j
//! Q3_K  l = q + 4 (0..7, 16)   scale d sc_j   min -4 d sc_j
//! ```
//!
//! Unsigned levels are what `vpdpbusd` multiplies with the signed Q8A activation planes; the
//! min term comes back through the Q8A block sums (`s = e sum(256 q1 + q2)`), so a unit's dot
//! product with Q8A block b is `scale e_b I + min s_b` with I the exact integer dot product
//! (`crate::backend::cpu::reference::gemm_q8a`).

use super::{f16_at, GgmlType};

/// The formats with levels.
pub const TYPES: [GgmlType; 10] = [
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
];

/// Values per unit of type `t`, `None` for a type without levels.
pub fn unit_len(t: GgmlType) -> Option<usize> {
    match t {
        GgmlType::Q6_K | GgmlType::Q2_K | GgmlType::Q3_K => Some(16),
        t if TYPES.contains(&t) => Some(32),
        _ => None,
    }
}

/// The levels of whole blocks `src` of type `t`: `lv.len()` values (a multiple of the block
/// size), `scale.len() == min.len() == lv.len() / unit_len(t)`. Panics for a type without levels.
pub fn row_levels(t: GgmlType, src: &[u8], lv: &mut [u8], scale: &mut [f32], min: &mut [f32]) {
    let n = lv.len();
    let u = unit_len(t).unwrap_or_else(|| panic!("no levels for {}", t.name()));
    assert_eq!(Some(src.len()), t.row_bytes(n), "row_levels {}: length mismatch", t.name());
    assert!(scale.len() * u == n && min.len() * u == n, "row_levels: scales length");
    let ts = t.type_size();
    let blocks = src.chunks_exact(ts);
    // one loop per format (the match outside it), fixed-size blocks so the loops vectorize
    match t {
        GgmlType::Q8_0 => {
            for (b, (l, (sc, mn))) in blocks.zip(lv.chunks_exact_mut(32).zip(scale.iter_mut().zip(min.iter_mut()))) {
                let d = f16_at(b, 0);
                let q: &[u8; 32] = b[2..34].try_into().unwrap();
                l.iter_mut().zip(q).for_each(|(l, &q)| *l = q ^ 0x80);
                (*sc, *mn) = (d, -128.0 * d);
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            for (b, (l, (sc, mn))) in blocks.zip(lv.chunks_exact_mut(32).zip(scale.iter_mut().zip(min.iter_mut()))) {
                let d = f16_at(b, 0);
                let (m, qs) = if t == GgmlType::Q4_0 { (-8.0 * d, &b[2..18]) } else { (f16_at(b, 2), &b[4..20]) };
                nibbles(qs.try_into().unwrap(), l.try_into().unwrap());
                (*sc, *mn) = (d, m);
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            for (b, (l, (sc, mn))) in blocks.zip(lv.chunks_exact_mut(32).zip(scale.iter_mut().zip(min.iter_mut()))) {
                let d = f16_at(b, 0);
                let (m, o) = if t == GgmlType::Q5_0 { (-16.0 * d, 2) } else { (f16_at(b, 2), 4) };
                let qh = u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
                let l: &mut [u8; 32] = l.try_into().unwrap();
                nibbles(b[o + 4..o + 20].try_into().unwrap(), l);
                for (j, l) in l.iter_mut().enumerate() {
                    *l |= (((qh >> j) & 1) << 4) as u8;
                }
                (*sc, *mn) = (d, m);
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            for (b, (l, (sc, mn))) in blocks.zip(lv.chunks_exact_mut(256).zip(scale.chunks_exact_mut(8).zip(min.chunks_exact_mut(8)))) {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let (qh, qs) = if t == GgmlType::Q4_K { (None, &b[16..144]) } else { (Some(&b[16..48]), &b[48..176]) };
                for j in 0..8 {
                    let (s, m) = super::kquants::scale_min_k4(j, &b[4..16]);
                    (sc[j], mn[j]) = (d * s as f32, -(dmin * m as f32));
                    // sub-block j: the low (even j) or high (odd j) nibbles of qs[32 (j / 2)..]
                    let q: &[u8; 32] = qs[32 * (j / 2)..32 * (j / 2) + 32].try_into().unwrap();
                    let lj: &mut [u8; 32] = (&mut l[32 * j..32 * j + 32]).try_into().unwrap();
                    let shift = 4 * (j % 2);
                    lj.iter_mut().zip(q).for_each(|(l, &q)| *l = (q >> shift) & 0x0F);
                    if let Some(qh) = qh {
                        let qh: &[u8; 32] = qh.try_into().unwrap();
                        lj.iter_mut().zip(qh).for_each(|(l, &h)| *l |= ((h >> j) & 1) << 4);
                    }
                }
            }
        }
        GgmlType::Q6_K => {
            for (b, (l, (sc, mn))) in blocks.zip(lv.chunks_exact_mut(256).zip(scale.chunks_exact_mut(16).zip(min.chunks_exact_mut(16)))) {
                let d = f16_at(b, 208);
                for j in 0..16 {
                    sc[j] = d * b[192 + j] as i8 as f32;
                    mn[j] = -32.0 * sc[j];
                }
                // value 128 h + 32 c + i: ql[64 h + i (+ 32 for odd c)] nibble c / 2, and bits
                // 2 c, 2 c + 1 of qh[32 h + i] as its fifth and sixth bits
                for h in 0..2 {
                    let ql: &[u8; 64] = b[64 * h..64 * h + 64].try_into().unwrap();
                    let qh: &[u8; 32] = b[128 + 32 * h..160 + 32 * h].try_into().unwrap();
                    for c in 0..4 {
                        let lc: &mut [u8; 32] = (&mut l[128 * h + 32 * c..128 * h + 32 * c + 32]).try_into().unwrap();
                        let (lo, shift) = (&ql[32 * (c % 2)..32 * (c % 2) + 32], 4 * (c / 2));
                        for i in 0..32 {
                            lc[i] = ((lo[i] >> shift) & 0x0F) | (((qh[i] >> (2 * c)) & 3) << 4);
                        }
                    }
                }
            }
        }
        GgmlType::Q2_K | GgmlType::Q3_K => {
            for (b, (l, (sc, mn))) in blocks.zip(lv.chunks_exact_mut(256).zip(scale.chunks_exact_mut(16).zip(min.chunks_exact_mut(16)))) {
                // sub-block j = 8 h + 2 s + p: bits 2 s, 2 s + 1 of qs[32 h + 16 p + i] (Q3_K: and
                // bit 4 h + s of hmask[16 p + i] as a third bit, set meaning +4 where the stored
                // value has -4 when clear)
                if t == GgmlType::Q2_K {
                    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
                    for j in 0..16 {
                        (sc[j], mn[j]) = (d * (b[j] & 0x0F) as f32, -(dmin * (b[j] >> 4) as f32));
                    }
                } else {
                    let d = f16_at(b, 108);
                    let scales = super::kquants::q3_k_scales(&b[96..108]);
                    for j in 0..16 {
                        sc[j] = d * scales[j] as f32;
                        mn[j] = -4.0 * sc[j];
                    }
                }
                let qs = if t == GgmlType::Q2_K { &b[16..80] } else { &b[32..96] };
                for j in 0..16 {
                    let (h, s, p) = (j / 8, (j / 2) % 4, j % 2);
                    let q = &qs[32 * h + 16 * p..32 * h + 16 * p + 16];
                    let lj = &mut l[16 * j..16 * j + 16];
                    for i in 0..16 {
                        lj[i] = (q[i] >> (2 * s)) & 3;
                    }
                    if t == GgmlType::Q3_K {
                        let hm = &b[16 * p..16 * p + 16];
                        for i in 0..16 {
                            lj[i] |= ((hm[i] >> (4 * h + s)) & 1) << 2;
                        }
                    }
                }
            }
        }
        _ => unreachable!(),
    }
}

/// The 32 nibbles of 16 bytes in element order: low nibbles first, then high.
#[inline]
fn nibbles(qs: &[u8; 16], l: &mut [u8; 32]) {
    for j in 0..16 {
        (l[j], l[j + 16]) = (qs[j] & 0x0F, qs[j] >> 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequantize_row, quantize_row};

    /// `scale * l + min`, computed exactly, rounds to the to-f32 reference's bits, on quantized
    /// random rows (with raw random blocks for levels and scales the quantizers would not
    /// produce).
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
                        let f16s: &[usize] = match t {
                            GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
                            GgmlType::Q6_K => &[208],
                            GgmlType::Q2_K => &[80, 82],
                            GgmlType::Q3_K => &[108],
                            _ => &[0],
                        };
                        for &f in f16s {
                            b[f + 1] &= 0x3B;
                        }
                    }
                }
                let mut want = vec![0f32; n];
                dequantize_row(t, &src, &mut want);
                let u = unit_len(t).unwrap();
                let (mut lv, mut sc, mut mn) = (vec![0u8; n], vec![0f32; n / u], vec![0f32; n / u]);
                row_levels(t, &src, &mut lv, &mut sc, &mut mn);
                for i in 0..n {
                    // exact in f64 (scales of at most 19 bits times 8-bit levels)
                    let got = (sc[i / u] as f64 * lv[i] as f64 + mn[i / u] as f64) as f32;
                    assert!(got == want[i], "{} n {n} value {i}: {got} vs {}", t.name(), want[i]);
                }
            }
        }
    }
}
