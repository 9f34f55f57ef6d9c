//! The 256-element "K" super-block formats.
//!
//! ```text
//! Q2_K  (84 B): scales[16] (lo 4 bits scale, hi 4 bits min) | qs[64] (2-bit) | d f16 | dmin f16
//! Q3_K (110 B): hmask[32] (3rd bit) | qs[64] (low 2 bits) | scales[12] (16 x 6-bit, signed -32) | d f16
//! Q4_K (144 B): d f16 | dmin f16 | scales[12] (8 x 6-bit scale + 8 x 6-bit min) | qs[128] (4-bit)
//! Q5_K (176 B): d f16 | dmin f16 | scales[12] | qh[32] (5th bit) | qs[128]
//! Q6_K (210 B): ql[128] (low 4 bits) | qh[64] (high 2 bits) | scales[16] i8 | d f16
//! Q8_K (292 B): d f32 | qs[256] i8 | bsums[16] i16 (sums of 16 qs, for dot products)
//! ```

use super::{f16_at, put_f16};

pub fn q2_k_to_f32(b: &[u8], y: &mut [f32]) {
    let scales = &b[0..16];
    let qs = &b[16..80];
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    let mut is = 0;
    let mut out = 0;
    for half in 0..2 {
        let q = &qs[half * 32..half * 32 + 32];
        for shift in [0u32, 2, 4, 6] {
            for part in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * (sc & 0x0F) as f32, dmin * (sc >> 4) as f32);
                for l in 0..16 {
                    y[out] = dl * ((q[part * 16 + l] >> shift) & 3) as f32 - ml;
                    out += 1;
                }
            }
        }
    }
}

/// The 16 signed 6-bit scales of Q3_K (stored -32-offset, split over 12 bytes).
pub(super) fn q3_k_scales(s: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for j in 0..16 {
        let low = if j < 8 { s[j] & 0x0F } else { s[j - 8] >> 4 };
        let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = ((low | (high << 4)) as i32 - 32) as i8;
    }
    out
}

pub fn q3_k_to_f32(b: &[u8], y: &mut [f32]) {
    let hmask = &b[0..32];
    let qs = &b[32..96];
    let scales = q3_k_scales(&b[96..108]);
    let d = f16_at(b, 108);
    let mut is = 0;
    let mut out = 0;
    let mut m = 1u8;
    for half in 0..2 {
        let q = &qs[half * 32..half * 32 + 32];
        for shift in [0u32, 2, 4, 6] {
            for part in 0..2 {
                let dl = d * scales[is] as f32;
                is += 1;
                for l in 0..16 {
                    let i = part * 16 + l;
                    let low = ((q[i] >> shift) & 3) as i32;
                    let v = low - if hmask[i] & m != 0 { 0 } else { 4 };
                    y[out] = dl * v as f32;
                    out += 1;
                }
            }
            m <<= 1;
        }
    }
}

/// Scale and min number `j` (0..8) of Q4_K/Q5_K's packed 6-bit values.
#[inline]
pub(super) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

pub fn q4_k_to_f32(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for c in 0..4 {
        let (s1, m1) = scale_min_k4(2 * c, scales);
        let (s2, m2) = scale_min_k4(2 * c + 1, scales);
        let (d1, mm1, d2, mm2) = (d * s1 as f32, dmin * m1 as f32, d * s2 as f32, dmin * m2 as f32);
        let q = &qs[32 * c..32 * c + 32];
        for l in 0..32 {
            y[64 * c + l] = d1 * (q[l] & 0x0F) as f32 - mm1;
            y[64 * c + 32 + l] = d2 * (q[l] >> 4) as f32 - mm2;
        }
    }
}

pub fn q5_k_to_f32(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for c in 0..4 {
        let (s1, m1) = scale_min_k4(2 * c, scales);
        let (s2, m2) = scale_min_k4(2 * c + 1, scales);
        let (d1, mm1, d2, mm2) = (d * s1 as f32, dmin * m1 as f32, d * s2 as f32, dmin * m2 as f32);
        let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
        let q = &qs[32 * c..32 * c + 32];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[64 * c + l] = d1 * ((q[l] & 0x0F) + h1) as f32 - mm1;
            y[64 * c + 32 + l] = d2 * ((q[l] >> 4) + h2) as f32 - mm2;
        }
    }
}

pub fn q6_k_to_f32(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for h in 0..2 {
        let ql = &b[64 * h..64 * h + 64];
        let qh = &b[128 + 32 * h..128 + 32 * h + 32];
        let sc = &b[192 + 8 * h..192 + 8 * h + 8];
        let yo = &mut y[128 * h..128 * h + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            yo[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            yo[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            yo[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            yo[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

pub fn q8_k_to_f32(b: &[u8], y: &mut [f32]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for j in 0..256 {
        y[j] = (b[4 + j] as i8) as f32 * d;
    }
}

/// ggml's reference: scale from the value of largest magnitude (sign kept), d = 1 / iscale.
pub fn q8_k_from_f32(x: &[f32], b: &mut [u8]) {
    let mut max = 0f32;
    for &v in x {
        if v.abs() > max.abs() {
            max = v;
        }
    }
    b.fill(0);
    if max == 0.0 {
        return;
    }
    let iscale = -127.0 / max;
    let mut q = [0i8; 256];
    for j in 0..256 {
        q[j] = ((iscale * x[j]).round() as i32).min(127) as i8;
        b[4 + j] = q[j] as u8;
    }
    b[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    for g in 0..16 {
        let s: i16 = q[16 * g..16 * g + 16].iter().map(|&v| v as i16).sum();
        b[260 + 2 * g..262 + 2 * g].copy_from_slice(&s.to_le_bytes());
    }
}

/// Pack Q4_K/Q5_K's 8 scales and 8 mins (6 bits each) into 12 bytes: the inverse of `scale_min_k4`.
fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8], scales: &mut [u8]) {
    scales[..12].fill(0);
    for j in 0..8 {
        if j < 4 {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4);
            scales[j - 4] |= (ls[j] >> 4) << 6;
            scales[j] |= (lm[j] >> 4) << 6;
        }
    }
}

/// `v / unit` rounded into `0..=max` (0 when the unit is 0).
#[inline]
fn quant_unit(v: f32, unit: f32, max: i32) -> u8 {
    if unit > 0.0 {
        ((v / unit).round() as i32).clamp(0, max) as u8
    } else {
        0
    }
}

/// Simple Q4_K reference quantizer: per 32-value sub-block scale = (max - min) / 15 and
/// min = -min(0, min); the 8 scales and mins are quantized to 6 bits against d, dmin.
pub fn q4_k_from_f32(x: &[f32], b: &mut [u8]) {
    let mut sc = [0f32; 8];
    let mut mn = [0f32; 8];
    for s in 0..8 {
        let xs = &x[32 * s..32 * s + 32];
        let lo = xs.iter().fold(0f32, |a, &v| a.min(v));
        let hi = xs.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        sc[s] = (hi - lo) / 15.0;
        mn[s] = -lo;
    }
    let max_sc = sc.iter().fold(0f32, |a, &v| a.max(v));
    let max_mn = mn.iter().fold(0f32, |a, &v| a.max(v));
    let d = max_sc / 63.0;
    let dmin = max_mn / 63.0;
    let ls: [u8; 8] = std::array::from_fn(|s| quant_unit(sc[s], d, 63));
    let lm: [u8; 8] = std::array::from_fn(|s| quant_unit(mn[s], dmin, 63));
    b.fill(0);
    put_f16(b, 0, d);
    put_f16(b, 2, dmin);
    pack_scale_min_k4(&ls, &lm, &mut b[4..16]);
    // quantize against the rounded (f16) d, dmin as the dequantizer will see them
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let mut q = [0u8; 256];
    for s in 0..8 {
        let dl = d * ls[s] as f32;
        let ml = dmin * lm[s] as f32;
        for l in 0..32 {
            let i = 32 * s + l;
            q[i] = if dl > 0.0 { (((x[i] + ml) / dl).round() as i32).clamp(0, 15) as u8 } else { 0 };
        }
    }
    for c in 0..4 {
        for l in 0..32 {
            b[16 + 32 * c + l] = q[64 * c + l] | (q[64 * c + 32 + l] << 4);
        }
    }
}

/// Simple Q6_K reference quantizer: per 16-value sub-block scale from the signed max (/-32),
/// scales quantized to i8 against d.
pub fn q6_k_from_f32(x: &[f32], b: &mut [u8]) {
    let mut scales = [0f32; 16];
    for s in 0..16 {
        let mut max = 0f32;
        for &v in &x[16 * s..16 * s + 16] {
            if v.abs() > max.abs() {
                max = v;
            }
        }
        scales[s] = max / -32.0;
    }
    let mut max_scale = 0f32;
    for &s in &scales {
        if s.abs() > max_scale.abs() {
            max_scale = s;
        }
    }
    b.fill(0);
    if max_scale == 0.0 {
        return;
    }
    let iscale = -128.0 / max_scale;
    put_f16(b, 208, 1.0 / iscale);
    let d = f16_at(b, 208);
    let mut l = [0u8; 256];
    for s in 0..16 {
        let sc = ((iscale * scales[s]).round() as i32).clamp(-128, 127) as i8;
        b[192 + s] = sc as u8;
        let ds = d * sc as f32;
        for j in 0..16 {
            let i = 16 * s + j;
            let q = if ds != 0.0 { ((x[i] / ds).round() as i32).clamp(-32, 31) } else { 0 };
            l[i] = (q + 32) as u8;
        }
    }
    for h in 0..2 {
        let n = 128 * h;
        for j in 0..32 {
            let (a, bb, c, e) = (l[n + j], l[n + j + 32], l[n + j + 64], l[n + j + 96]);
            b[64 * h + j] = (a & 0x0F) | ((c & 0x0F) << 4);
            b[64 * h + j + 32] = (bb & 0x0F) | ((e & 0x0F) << 4);
            b[128 + 32 * h + j] = (a >> 4) | ((bb >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
        }
    }
}

// ---- Q2_K, Q3_K, Q5_K reference quantizers ------------------------------------------------------
//
// All three work in two levels, like the formats: first fit each sub-block on its own (a scale, and
// for Q2_K/Q5_K a min), then quantize those per-sub-block numbers against the block's f16 super-scale
// (`d`, `dmin`), and finally round every value against the sub-block scale exactly as the
// dequantizer will rebuild it. The sub-block fit is a small search: start from a grid spanning the
// values, try grids slightly narrower and wider, refit the scale (and min) by least squares on the
// rounded levels, and keep whichever reconstructs the sub-block with the smallest squared error.

/// How many grid widths the sub-block fits try, in steps of `GRID_STEP` levels around the nominal one.
const GRID_STEPS: i32 = 12;
const GRID_STEP: f32 = 0.1;

/// Squared error of `x ≈ scale * q - min` with each q rounded to the nearest level in `0..=nmax`.
fn affine_err(x: &[f32], scale: f32, min: f32, nmax: i32) -> f32 {
    let inv = 1.0 / scale;
    x.iter()
        .map(|&v| {
            let q = ((v + min) * inv).round().clamp(0.0, nmax as f32);
            let e = scale * q - min - v;
            e * e
        })
        .sum()
}

/// Least-squares `(scale, min)` for the levels `q`, with `min >= 0` (the K formats store the offset
/// as a subtracted unsigned min, so a sub-block whose values are all positive gets min 0).
fn affine_refit(x: &[f32], q: &[u8]) -> Option<(f32, f32)> {
    let n = x.len() as f32;
    let (mut sq, mut sqq, mut sx, mut sqx) = (0f32, 0f32, 0f32, 0f32);
    for (&v, &l) in x.iter().zip(q) {
        let l = l as f32;
        sq += l;
        sqq += l * l;
        sx += v;
        sqx += l * v;
    }
    let det = n * sqq - sq * sq;
    if det <= 0.0 {
        return None;
    }
    let mut scale = (n * sqx - sq * sx) / det;
    let mut offset = (sx - scale * sq) / n;
    if offset > 0.0 {
        offset = 0.0;
        scale = sqx / sqq;
    }
    (scale > 0.0 && scale.is_finite()).then_some((scale, -offset))
}

/// Fit one sub-block as `x ≈ scale * q - min`, q in `0..=nmax`, scale >= 0, min >= 0.
fn fit_scale_min(x: &[f32], nmax: i32) -> (f32, f32) {
    let lo = x.iter().fold(0f32, |a, &v| a.min(v));
    let hi = x.iter().fold(lo, |a, &v| a.max(v));
    if hi <= lo || !(hi - lo).is_finite() {
        // constant (or empty, or non-finite) sub-block: all values sit on the min
        return (0.0, if lo.is_finite() { -lo } else { 0.0 });
    }
    let mut best = ((hi - lo) / nmax as f32, -lo);
    let mut best_err = affine_err(x, best.0, best.1, nmax);
    let mut q = [0u8; 32];
    let q = &mut q[..x.len()];
    for step in -GRID_STEPS / 2..=GRID_STEPS {
        let iscale = (nmax as f32 + GRID_STEP * step as f32) / (hi - lo);
        for (l, &v) in q.iter_mut().zip(x) {
            *l = ((v - lo) * iscale).round().clamp(0.0, nmax as f32) as u8;
        }
        let Some((scale, min)) = affine_refit(x, q) else { continue };
        let err = affine_err(x, scale, min, nmax);
        if err < best_err {
            best = (scale, min);
            best_err = err;
        }
    }
    best
}

/// Squared error of `x ≈ scale * q` with q rounded to the nearest level in `-4..=3` (Q3_K).
fn sym3_err(x: &[f32], scale: f32) -> f32 {
    let inv = 1.0 / scale;
    x.iter()
        .map(|&v| {
            let e = scale * (v * inv).round().clamp(-4.0, 3.0) - v;
            e * e
        })
        .sum()
}

/// Fit one Q3_K sub-block as `x ≈ scale * q`, q in `-4..=3`; the scale's sign picks which end of
/// the lopsided range (-4 or +3) the largest value lands on.
fn fit_scale_sym3(x: &[f32]) -> f32 {
    let mut vmax = 0f32;
    for &v in x {
        if v.abs() > vmax.abs() {
            vmax = v;
        }
    }
    if vmax == 0.0 || !vmax.is_finite() {
        return 0.0;
    }
    let mut best = vmax / -4.0;
    let mut best_err = sym3_err(x, best);
    for (end, sign) in [(4.0f32, -1.0f32), (3.0, 1.0)] {
        for step in -GRID_STEPS / 2..=GRID_STEPS {
            let iscale = sign * (end + GRID_STEP * step as f32) / vmax;
            let (mut sqx, mut sqq) = (0f32, 0f32);
            for &v in x {
                let q = (v * iscale).round().clamp(-4.0, 3.0);
                sqx += q * v;
                sqq += q * q;
            }
            if sqq == 0.0 {
                continue;
            }
            let scale = sqx / sqq;
            let err = sym3_err(x, scale);
            if err < best_err {
                best = scale;
                best_err = err;
            }
        }
    }
    best
}

/// Q2_K reference quantizer: 16 sub-blocks of 16 values, 2-bit levels, 4-bit scales and mins.
pub fn q2_k_from_f32(x: &[f32], b: &mut [u8]) {
    let mut sc = [0f32; 16];
    let mut mn = [0f32; 16];
    for s in 0..16 {
        (sc[s], mn[s]) = fit_scale_min(&x[16 * s..16 * s + 16], 3);
    }
    let max_sc = sc.iter().fold(0f32, |a, &v| a.max(v));
    let max_mn = mn.iter().fold(0f32, |a, &v| a.max(v));
    b.fill(0);
    put_f16(b, 80, max_sc / 15.0);
    put_f16(b, 82, max_mn / 15.0);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    let mut q = [0u8; 256];
    for s in 0..16 {
        let (ls, lm) = (quant_unit(sc[s], d, 15), quant_unit(mn[s], dmin, 15));
        b[s] = ls | (lm << 4);
        let (dl, ml) = (d * ls as f32, dmin * lm as f32);
        for i in 16 * s..16 * s + 16 {
            q[i] = quant_unit(x[i] + ml, dl, 3);
        }
    }
    // element 128 h + 32 k + j sits in bits 2k of qs[32 h + j]
    for h in 0..2 {
        for j in 0..32 {
            let e = 128 * h + j;
            b[16 + 32 * h + j] = q[e] | (q[e + 32] << 2) | (q[e + 64] << 4) | (q[e + 96] << 6);
        }
    }
}

/// Q3_K reference quantizer: 16 sub-blocks of 16 values, signed 3-bit levels, signed 6-bit scales.
pub fn q3_k_from_f32(x: &[f32], b: &mut [u8]) {
    let mut sc = [0f32; 16];
    let mut smax = 0f32;
    for s in 0..16 {
        sc[s] = fit_scale_sym3(&x[16 * s..16 * s + 16]);
        if sc[s].abs() > smax.abs() {
            smax = sc[s];
        }
    }
    b.fill(0);
    if smax == 0.0 {
        // all-zero block: every level 0 means stored 4 = high bit set, low bits 0
        b[0..32].fill(0xFF);
        return;
    }
    // the largest scale takes -32, the widest end of the signed 6-bit range
    put_f16(b, 108, smax / -32.0);
    let d = f16_at(b, 108);
    let mut q = [4u8; 256];
    for s in 0..16 {
        let ls = if d != 0.0 { ((sc[s] / d).round() as i32).clamp(-32, 31) } else { 0 };
        let u = (ls + 32) as u8;
        b[96 + s % 8] |= (u & 0x0F) << (4 * (s / 8));
        b[104 + s % 4] |= (u >> 4) << (2 * (s / 4));
        let dl = d * ls as f32;
        if dl == 0.0 {
            continue;
        }
        for i in 16 * s..16 * s + 16 {
            q[i] = ((x[i] / dl).round().clamp(-4.0, 3.0) as i32 + 4) as u8;
        }
    }
    // element 128 h + 32 k + j: low 2 bits in bits 2k of qs[32 h + j], high bit in bit 4h + k of hmask[j]
    for h in 0..2 {
        for k in 0..4 {
            for j in 0..32 {
                let l = q[128 * h + 32 * k + j];
                b[32 + 32 * h + j] |= (l & 3) << (2 * k);
                b[j] |= (l >> 2) << (4 * h + k);
            }
        }
    }
}

/// Q5_K reference quantizer: 8 sub-blocks of 32 values, 5-bit levels, 6-bit scales and mins.
pub fn q5_k_from_f32(x: &[f32], b: &mut [u8]) {
    let mut sc = [0f32; 8];
    let mut mn = [0f32; 8];
    for s in 0..8 {
        (sc[s], mn[s]) = fit_scale_min(&x[32 * s..32 * s + 32], 31);
    }
    let max_sc = sc.iter().fold(0f32, |a, &v| a.max(v));
    let max_mn = mn.iter().fold(0f32, |a, &v| a.max(v));
    b.fill(0);
    put_f16(b, 0, max_sc / 63.0);
    put_f16(b, 2, max_mn / 63.0);
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let ls: [u8; 8] = std::array::from_fn(|s| quant_unit(sc[s], d, 63));
    let lm: [u8; 8] = std::array::from_fn(|s| quant_unit(mn[s], dmin, 63));
    pack_scale_min_k4(&ls, &lm, &mut b[4..16]);
    let mut q = [0u8; 256];
    for s in 0..8 {
        let (dl, ml) = (d * ls[s] as f32, dmin * lm[s] as f32);
        for i in 32 * s..32 * s + 32 {
            q[i] = quant_unit(x[i] + ml, dl, 31);
        }
    }
    // element 64 c + l: low nibble of qs[32 c + l], 5th bit in bit 2c of qh[l];
    // element 64 c + 32 + l: high nibble, bit 2c + 1
    for c in 0..4 {
        for l in 0..32 {
            let (a, e) = (q[64 * c + l], q[64 * c + 32 + l]);
            b[48 + 32 * c + l] = (a & 0x0F) | ((e & 0x0F) << 4);
            b[16 + l] |= ((a >> 4) << (2 * c)) | ((e >> 4) << (2 * c + 1));
        }
    }
}
