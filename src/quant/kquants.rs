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
fn q3_k_scales(s: &[u8]) -> [i8; 16] {
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
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
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
    let q6 = |v: f32, unit: f32| if unit > 0.0 { ((v / unit).round() as i32).clamp(0, 63) as u8 } else { 0 };
    let ls: Vec<u8> = sc.iter().map(|&v| q6(v, d)).collect();
    let lm: Vec<u8> = mn.iter().map(|&v| q6(v, dmin)).collect();
    b.fill(0);
    put_f16(b, 0, d);
    put_f16(b, 2, dmin);
    let scales = &mut b[4..16];
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
