//! Q8A: the int8 activation format of the single-token (decode) dot products.
//!
//! Per block of 32 activations x, two int8 planes and two f32 numbers:
//!
//! ```text
//! d  = max|x| / 127,   e = d / 256
//! q1 = round(x / d)                    in -127..=127   (ties to even)
//! q2 = round((x - d q1) / e)           in -127..=127   (x - d q1 rounded once: an fma)
//! x ~ e (256 q1 + q2),                 s = e * sum(256 q1 + q2)
//! ```
//!
//! so a weight row times the activations is two int8 dot products per block (vpdpbusd), joined
//! exactly in i32 as 256 dot(w, q1) + dot(w, q2), times the scales. One plane alone (llama.cpp's
//! Q8_0/Q8_1 activations, with an f16 d) leaves an error up to d / 2 per value, which on small
//! models moves the log-probabilities about as much as llama.cpp's 8-bit path does
//! (bench/fidelity.py); the second plane takes it to e / 2 = d / 512 (e where x / d falls on a
//! rounding tie and q2 clamps), 16-bit precision, and decode then matches an fp32 computation of
//! the same weights to ~1e-7 in KL. `s` is the term the offset and min parts of Q4_0/Q4_1/Q5_0/
//! Q5_1/Q8_0/Q4_K/Q5_K weights multiply.
//!
//! Laid out as arrays, not interleaved blocks, so that a kernel loads 64 values (two blocks) of a
//! plane, or the scales of 8 blocks (one K super-block), with one instruction:
//!
//! ```text
//! qs[2 n]      i8    qs[i] = q1 of value i, qs[n + i] = q2 of value i
//! ds[2 n / 32] f32   ds[2 b] = e_b, ds[2 b + 1] = s_b
//! ```
//!
//! A block whose e rounds to 0 (all zeros, or max|x| below ~1e-40) is all zero. Inputs must be
//! finite.
//!
//! The reference dot products below are the specification of the kernels
//! (`src/backend/cpu/table.rs`, `dot_rows_q8a`): per Q8A block the weight levels times the
//! activation integers 256 q1 + q2 are summed exactly (i64), then multiplied by the block's scales
//! in f32, and the block terms are summed in order in f32. Kernels may sum in another order.

use super::kquants::q3_k_scales;
use super::{f16_at, GgmlType};

/// Activations per Q8A block.
pub const QK: usize = 32;

/// The weight types with a Q8A dot product (reference below; kernels per tier in the table).
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

pub fn has_dot(t: GgmlType) -> bool {
    TYPES.contains(&t)
}

/// A borrowed Q8A row of n values: `qs.len() == 2 * n` (both planes), `ds.len() == 2 * n / 32`.
#[derive(Clone, Copy)]
pub struct Q8a<'a> {
    pub qs: &'a [i8],
    pub ds: &'a [f32],
}

impl Q8a<'_> {
    pub fn len(&self) -> usize {
        self.qs.len() / 2
    }
    pub fn is_empty(&self) -> bool {
        self.qs.is_empty()
    }
    /// The integer of value i: 256 q1 + q2 (the value is e times it).
    #[inline]
    pub fn int(&self, i: usize) -> i32 {
        256 * self.qs[i] as i32 + self.qs[self.len() + i] as i32
    }
    /// The activations as f32, `e (256 q1 + q2)`: what the int8 dot products see.
    pub fn to_f32(&self) -> Vec<f32> {
        (0..self.len()).map(|i| self.ds[2 * (i / QK)] * self.int(i) as f32).collect()
    }
}

/// An owned Q8A row (reused across calls: `resize` keeps the allocation).
#[derive(Clone, Default)]
pub struct Q8aRow {
    pub qs: Vec<i8>,
    pub ds: Vec<f32>,
}

impl Q8aRow {
    pub fn new(n: usize) -> Q8aRow {
        let mut r = Q8aRow::default();
        r.resize(n);
        r
    }
    pub fn resize(&mut self, n: usize) {
        assert!(n % QK == 0, "Q8A rows are whole blocks of {QK}");
        self.qs.resize(2 * n, 0);
        self.ds.resize(2 * n / QK, 0.0);
    }
    pub fn view(&self) -> Q8a<'_> {
        Q8a { qs: &self.qs, ds: &self.ds }
    }
}

/// Reference quantizer: `qs.len() == 2 * x.len()`, `ds.len() == x.len() / 16`, x.len() a
/// multiple of 32.
pub fn quantize(x: &[f32], qs: &mut [i8], ds: &mut [f32]) {
    let n = x.len();
    assert!(n % QK == 0 && qs.len() == 2 * n && ds.len() * QK == 2 * n, "quantize_q8a: lengths");
    let (q1s, q2s) = qs.split_at_mut(n);
    for (((xb, q1), q2), db) in x.chunks_exact(QK).zip(q1s.chunks_exact_mut(QK)).zip(q2s.chunks_exact_mut(QK)).zip(ds.chunks_exact_mut(2)) {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let e = d / 256.0;
        if e == 0.0 {
            q1.fill(0);
            q2.fill(0);
            db.copy_from_slice(&[0.0, 0.0]);
            continue;
        }
        let mut sum = 0i32;
        for ((a, b), &v) in q1.iter_mut().zip(q2.iter_mut()).zip(xb) {
            // |v / d| <= 127 up to rounding of d; the clamps only matter for subnormal d, e
            let l1 = ((v / d).round_ties_even() as i32).clamp(-127, 127);
            let r = (-d).mul_add(l1 as f32, v); // v - d l1, rounded once; |r| <= d / 2 (+ rounding)
            let l2 = ((r / e).round_ties_even() as i32).clamp(-127, 127);
            sum += 256 * l1 + l2;
            (*a, *b) = (l1 as i8, l2 as i8);
        }
        db[0] = e;
        db[1] = e * sum as f32; // |sum| <= 32 * 32639 < 2^24: exact
    }
}

/// Quantize into an owned row (resized to `x.len()`).
pub fn quantize_row(x: &[f32], row: &mut Q8aRow) {
    row.resize(x.len());
    quantize(x, &mut row.qs, &mut row.ds);
}

/// sum_j w[j] * (256 q1 + q2)[i0 + j], exactly.
#[inline]
fn idot(w: &[i32], a: Q8a<'_>, i0: usize) -> i64 {
    w.iter().enumerate().map(|(j, &w)| w as i64 * a.int(i0 + j) as i64).sum()
}

/// Scale and min number `j` (0..8) of Q4_K's (and Q5_K's) packed 6-bit values (as `kquants` reads them).
#[inline]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Reference dot of one weight row (`t`, a multiple of its block size) with a Q8A row of the same
/// length. Panics for types without a Q8A dot product (`has_dot`).
pub fn dot(t: GgmlType, w: &[u8], a: Q8a<'_>) -> f32 {
    let n = a.len();
    assert_eq!(Some(w.len()), t.row_bytes(n), "dot_q8a {}: length mismatch", t.name());
    assert_eq!(a.ds.len() * QK, 2 * n, "dot_q8a: Q8A scales length");
    assert_eq!(a.qs.len(), 2 * n, "dot_q8a: Q8A planes length");
    let mut sum = 0f32;
    let mut lv = [0i32; 256];
    match t {
        // legacy 32-value blocks: one weight block per Q8A block
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let ts = t.type_size();
            for (b, wb) in w.chunks_exact(ts).enumerate() {
                let (dx, sx) = (a.ds[2 * b], a.ds[2 * b + 1]);
                let dw = f16_at(wb, 0);
                let lv = &mut lv[..QK];
                match t {
                    GgmlType::Q8_0 => lv.iter_mut().zip(&wb[2..34]).for_each(|(l, &q)| *l = q as i8 as i32),
                    GgmlType::Q4_0 | GgmlType::Q4_1 => {
                        let (qs, off) = if t == GgmlType::Q4_0 { (&wb[2..18], 8) } else { (&wb[4..20], 0) };
                        for j in 0..16 {
                            lv[j] = (qs[j] & 0x0F) as i32 - off;
                            lv[j + 16] = (qs[j] >> 4) as i32 - off;
                        }
                    }
                    _ => {
                        // Q5_0: levels q - 16; Q5_1: levels q (and a min, below)
                        let (o, off) = if t == GgmlType::Q5_0 { (2, 16) } else { (4, 0) };
                        let qh = u32::from_le_bytes([wb[o], wb[o + 1], wb[o + 2], wb[o + 3]]);
                        for j in 0..16 {
                            lv[j] = ((wb[o + 4 + j] & 0x0F) as u32 | ((qh >> j) & 1) << 4) as i32 - off;
                            lv[j + 16] = ((wb[o + 4 + j] >> 4) as u32 | ((qh >> (j + 16)) & 1) << 4) as i32 - off;
                        }
                    }
                }
                let mut term = (dw * dx) * idot(lv, a, QK * b) as f32;
                if t == GgmlType::Q4_1 || t == GgmlType::Q5_1 {
                    // x = q d + m: the m part is m * sum(a) = m * s
                    term += f16_at(wb, 2) * sx;
                }
                sum += term;
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            for (sb, wb) in w.chunks_exact(t.type_size()).enumerate() {
                let (d, dmin) = (f16_at(wb, 0), f16_at(wb, 2));
                let sc = &wb[4..16];
                // Q5_K: qh[32] before the nibbles; bit 2c of qh[l] is the fifth bit of element
                // 64 c + l, bit 2c + 1 that of element 64 c + 32 + l
                let qs = if t == GgmlType::Q4_K { &wb[16..144] } else { &wb[48..176] };
                for c in 0..4 {
                    for l in 0..32 {
                        let (h0, h1) = if t == GgmlType::Q4_K { (0, 0) } else { ((wb[16 + l] >> (2 * c)) & 1, (wb[16 + l] >> (2 * c + 1)) & 1) };
                        lv[64 * c + l] = ((qs[32 * c + l] & 0x0F) | h0 << 4) as i32;
                        lv[64 * c + 32 + l] = ((qs[32 * c + l] >> 4) | h1 << 4) as i32;
                    }
                }
                // sub-block j (32 values) is Q8A block 8 sb + j: x = d sc_j q - dmin m_j
                for j in 0..8 {
                    let (s, m) = scale_min_k4(j, sc);
                    let b = 8 * sb + j;
                    let (dx, sx) = (a.ds[2 * b], a.ds[2 * b + 1]);
                    let i = idot(&lv[QK * j..QK * j + QK], a, QK * b);
                    sum += (d * s as f32) * dx * i as f32 - (dmin * m as f32) * sx;
                }
            }
        }
        GgmlType::Q6_K => {
            for (sb, wb) in w.chunks_exact(210).enumerate() {
                let d = f16_at(wb, 208);
                for h in 0..2 {
                    let (ql, qh) = (&wb[64 * h..64 * h + 64], &wb[128 + 32 * h..128 + 32 * h + 32]);
                    for l in 0..32 {
                        let e = 128 * h + l;
                        lv[e] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
                        lv[e + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        lv[e + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        lv[e + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    }
                }
                // Q8A block j holds sub-blocks 2j and 2j + 1 (16 values each, i8 scales)
                for j in 0..8 {
                    let b = 8 * sb + j;
                    let (s0, s1) = (wb[192 + 2 * j] as i8 as i64, wb[193 + 2 * j] as i8 as i64);
                    let i0 = idot(&lv[QK * j..QK * j + 16], a, QK * b);
                    let i1 = idot(&lv[QK * j + 16..QK * j + 32], a, QK * b + 16);
                    sum += (d * a.ds[2 * b]) * (s0 * i0 + s1 * i1) as f32;
                }
            }
        }
        GgmlType::Q2_K => {
            for (sb, wb) in w.chunks_exact(84).enumerate() {
                let (d, dmin) = (f16_at(wb, 80), f16_at(wb, 82));
                // element 128 h + 32 s + l (l < 32): bits 2 s, 2 s + 1 of qs[32 h + l]
                for (i, l) in lv.iter_mut().enumerate() {
                    *l = ((wb[16 + 32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3) as i32;
                }
                // Q8A block j holds sub-blocks 2j and 2j + 1 (16 values each, 4-bit scale and
                // min): x = d sc q - dmin m, the min part times the sum of the 16 activations
                for j in 0..8 {
                    let b = 8 * sb + j;
                    let (mut si, mut mi) = (0i64, 0i64);
                    for k in 0..2 {
                        let (s, m) = ((wb[2 * j + k] & 0x0F) as i64, (wb[2 * j + k] >> 4) as i64);
                        let i0 = QK * b + 16 * k;
                        si += s * idot(&lv[QK * j + 16 * k..QK * j + 16 * k + 16], a, i0);
                        mi += m * (i0..i0 + 16).map(|i| a.int(i) as i64).sum::<i64>();
                    }
                    let e = a.ds[2 * b];
                    sum += (d * e) * si as f32 - (dmin * e) * mi as f32;
                }
            }
        }
        GgmlType::Q3_K => {
            for (sb, wb) in w.chunks_exact(110).enumerate() {
                let d = f16_at(wb, 108);
                let sc = q3_k_scales(&wb[96..108]);
                // element 128 h + 32 s + l (l < 32): bits 2 s, 2 s + 1 of qs[32 h + l], minus 4
                // unless bit 4 h + s of hmask[l] is set
                for (i, l) in lv.iter_mut().enumerate() {
                    let (h, s, k) = (i / 128, (i / 32) % 4, i % 32);
                    let low = (wb[32 + 32 * h + k] >> (2 * s)) & 3;
                    let high = (wb[k] >> (4 * h + s)) & 1;
                    *l = (low | high << 2) as i32 - 4;
                }
                // Q8A block j holds sub-blocks 2j and 2j + 1 (16 values each, signed 6-bit scales)
                for j in 0..8 {
                    let b = 8 * sb + j;
                    let (s0, s1) = (sc[2 * j] as i64, sc[2 * j + 1] as i64);
                    let i0 = idot(&lv[QK * j..QK * j + 16], a, QK * b);
                    let i1 = idot(&lv[QK * j + 16..QK * j + 32], a, QK * b + 16);
                    sum += (d * a.ds[2 * b]) * (s0 * i0 + s1 * i1) as f32;
                }
            }
        }
        _ => panic!("no Q8A dot product for {}", t.name()),
    }
    sum
}

/// Sum of the absolute values of every product the dot sums, with the weights' level part and
/// their min or offset part apart (kernels may sum `d (q + c) a` and `-c d a` separately, for
/// Q8_0 with c = 128): the magnitude that a reordered f32 summation's error scales with.
pub fn dot_magnitude(t: GgmlType, w: &[u8], a: Q8a<'_>) -> f32 {
    let n = a.len();
    let x = a.to_f32();
    let mut deq = vec![0f32; n];
    super::dequantize_row(t, w, &mut deq);
    let bs = t.block_size();
    let mut mag = 0f64;
    for (i, (&wv, &xv)) in deq.iter().zip(&x).enumerate() {
        let blk = &w[(i / bs) * t.type_size()..];
        // the min/offset part of the weight, summed separately from the level part
        let min = match t {
            GgmlType::Q4_1 | GgmlType::Q5_1 => f16_at(blk, 2).abs(),
            GgmlType::Q4_K | GgmlType::Q5_K => {
                let (_, m) = scale_min_k4((i % 256) / 32, &blk[4..16]);
                f16_at(blk, 2).abs() * m as f32
            }
            GgmlType::Q4_0 => 8.0 * f16_at(blk, 0).abs(),
            GgmlType::Q5_0 => 16.0 * f16_at(blk, 0).abs(),
            GgmlType::Q8_0 => 128.0 * f16_at(blk, 0).abs(),
            GgmlType::Q6_K => 32.0 * (f16_at(blk, 208) * (blk[192 + (i % 256) / 16] as i8) as f32).abs(),
            GgmlType::Q2_K => (f16_at(blk, 82) * (blk[(i % 256) / 16] >> 4) as f32).abs(),
            GgmlType::Q3_K => 4.0 * (f16_at(blk, 108) * q3_k_scales(&blk[96..108])[(i % 256) / 16] as f32).abs(),
            _ => 0.0,
        };
        mag += ((wv.abs() + 2.0 * min) * xv.abs()) as f64;
    }
    mag as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequantize_row, quantize_row as quantize_weights};

    fn rng(seed: &mut u64) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    #[test]
    fn quantizer_reaches_16_bit_precision() {
        let mut seed = 0x0DDB_1A5Eu64;
        for scale in [1e-30f32, 1e-3, 1.0, 1e4, 1e30] {
            let x: Vec<f32> = (0..32 * 9).map(|i| if i / 32 == 4 { 0.0 } else { rng(&mut seed) * scale }).collect();
            let mut r = Q8aRow::default();
            quantize_row(&x, &mut r);
            let a = r.view();
            for (b, xb) in x.chunks(32).enumerate() {
                let (e, s) = (r.ds[2 * b], r.ds[2 * b + 1]);
                let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert_eq!(e, amax / 127.0 / 256.0);
                assert_eq!(s, e * (0..32).map(|j| a.int(32 * b + j)).sum::<i32>() as f32);
                for (j, &v) in xb.iter().enumerate() {
                    // 16-bit precision: |error| <= e / 2, or e where q2 clamps (a tie in q1)
                    let got = e * a.int(32 * b + j) as f32;
                    assert!((v - got).abs() <= e * 1.0001 + v.abs() * 1e-7, "{v} -> {got} (e {e})");
                }
            }
        }
    }

    #[test]
    fn reference_dot_equals_dequantized_dot() {
        // the reference's integer blocks and scales reproduce sum(deq(w) * deq(a)) up to f32
        // rounding of the block terms and their sum
        let mut seed = 0x5EED_0Fu64;
        for t in TYPES {
            for nb in [1usize, 2, 5] {
                let n = nb * t.block_size().max(32);
                let src: Vec<f32> = (0..n).map(|_| rng(&mut seed)).collect();
                let mut w = vec![0u8; t.row_bytes(n).unwrap()];
                quantize_weights(t, &src, &mut w);
                let x: Vec<f32> = (0..n).map(|i| rng(&mut seed) * if i % 96 < 32 { 100.0 } else { 0.01 }).collect();
                let mut r = Q8aRow::default();
                quantize_row(&x, &mut r);
                let mut deq = vec![0f32; n];
                dequantize_row(t, &w, &mut deq);
                let exact: f64 = deq.iter().zip(r.view().to_f32()).map(|(&p, q)| p as f64 * q as f64).sum();
                let got = dot(t, &w, r.view()) as f64;
                let mag = dot_magnitude(t, &w, r.view()) as f64;
                assert!((got - exact).abs() <= 1e-5 * mag, "{} n={n}: {got} vs {exact} (mag {mag})", t.name());
                // and the int8 activations stay close to the f32 ones: |error| <= sum |w| e
                let f = crate::quant::dot_f32(t, &w, &x) as f64;
                let bound: f64 = deq.iter().enumerate().map(|(i, &v)| v.abs() as f64 * r.ds[2 * (i / 32)] as f64).sum();
                assert!((got - f).abs() <= bound * 1.01 + 1e-5 * mag, "{} n={n}: {got} vs f32 {f}", t.name());
            }
        }
    }
}
