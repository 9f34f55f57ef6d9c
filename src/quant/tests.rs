use super::*;

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

fn bytes_for(t: GgmlType, n: usize) -> Vec<u8> {
    vec![0u8; t.row_bytes(n).unwrap()]
}

#[test]
fn row_bytes_and_ids() {
    for t in ALL_TYPES {
        assert_eq!(GgmlType::from_u32(t.id()), Some(t));
        assert_eq!(t.row_bytes(t.block_size() * 3), Some(3 * t.type_size()));
        if t.block_size() > 1 {
            assert_eq!(t.row_bytes(t.block_size() + 1), None);
        }
    }
    assert_eq!(GgmlType::from_u32(4), None, "Q4_2 was removed from the format");
    assert_eq!(GgmlType::from_u32(99), None);
}

/// Round trip error bound per format, relative to the block's max |x| (inputs uniform in [-1, 1]).
fn bound(t: GgmlType) -> f32 {
    match t {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 1e-3,
        GgmlType::BF16 => 8e-3,
        GgmlType::Q8_0 | GgmlType::Q8_1 | GgmlType::Q8_K => 1.0 / 127.0,
        GgmlType::Q6_K => 0.06,
        GgmlType::Q5_0 | GgmlType::Q5_1 => 1.0 / 15.0,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4_K => 0.15,
        // least-squares fits trade the max error for a lower RMS error (measured 0.51, 0.26, 0.055)
        GgmlType::Q5_K => 0.07,
        GgmlType::Q3_K => 0.3,
        GgmlType::Q2_K => 0.6,
    }
}

#[test]
fn quantize_dequantize_round_trip() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for t in ALL_TYPES {
        if traits(t).from_f32.is_none() {
            continue;
        }
        let n = 1024;
        let x = rng.vec(n);
        let mut q = bytes_for(t, n);
        quantize_row(t, &x, &mut q);
        let mut y = vec![0f32; n];
        dequantize_row(t, &q, &mut y);
        let err = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err <= bound(t) * 1.0001, "{}: max error {err} > {}", t.name(), bound(t));
    }
}

#[test]
fn dot_f32_equals_dequantize_then_dot() {
    let mut rng = Rng(42);
    for t in ALL_TYPES {
        for blocks in [1usize, 3, 7] {
            let n = t.block_size().max(32) * blocks;
            // random bytes for the weights, with finite f16 scales: quantize random data when we
            // can, else take raw random bytes and repair nothing (scales may be huge but finite)
            let mut w = bytes_for(t, n);
            if traits(t).from_f32.is_some() {
                quantize_row(t, &rng.vec(n), &mut w);
            } else {
                for b in w.iter_mut() {
                    *b = (rng.f() * 127.0) as i8 as u8;
                }
                // keep the block scales sane: re-quantize is not available, so zero the high
                // bits of every f16 field by clearing the exponent's top bit
                let ts = t.type_size();
                let offs: &[usize] = match t {
                    GgmlType::Q2_K => &[80, 82],
                    GgmlType::Q3_K => &[108],
                    GgmlType::Q5_K => &[0, 2],
                    _ => &[],
                };
                for blk in w.chunks_exact_mut(ts) {
                    for &o in offs {
                        blk[o + 1] &= 0x3F; // |value| < 2
                    }
                }
            }
            let x = rng.vec(n);
            let mut y = vec![0f32; n];
            dequantize_row(t, &w, &mut y);
            let plain: f64 = y.iter().zip(&x).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let fused = dot_f32(t, &w, &x) as f64;
            let scale: f64 = y.iter().zip(&x).map(|(a, b)| ((*a as f64) * (*b as f64)).abs()).sum::<f64>() + 1e-12;
            assert!((plain - fused).abs() / scale < 1e-5, "{} n={n}: {plain} vs {fused}", t.name());
        }
    }
}

#[test]
fn vec_dot_with_quantized_activations_is_close_to_f32() {
    let mut rng = Rng(7);
    for t in ALL_TYPES {
        if t.is_float() || traits(t).from_f32.is_none() || t == t.activation_type() {
            continue;
        }
        let n = 512;
        let mut w = bytes_for(t, n);
        quantize_row(t, &rng.vec(n), &mut w);
        let x = rng.vec(n);
        let mut a = bytes_for(t.activation_type(), n);
        quantize_activation(t, &x, &mut a);
        let exact = dot_f32(t, &w, &x);
        let approx = vec_dot(t, n, &w, &a);
        // 8-bit activations: error per term <= |w| * max|x| / 254; bound by the sum of |w|
        let mut y = vec![0f32; n];
        dequantize_row(t, &w, &mut y);
        let bound: f32 = y.iter().map(|v| v.abs()).sum::<f32>() / 254.0 * 1.01;
        assert!((exact - approx).abs() <= bound, "{}: {exact} vs {approx} (bound {bound})", t.name());
    }
}

#[test]
fn known_blocks_decode_to_known_values() {
    // Q4_0: d = 1.0, low nibble 8 (-> 0), high nibble 9 (-> 1)
    let mut b = vec![0u8; 18];
    put_f16(&mut b, 0, 1.0);
    b[2..].fill(0x98);
    let mut y = [0f32; 32];
    dequantize_row(GgmlType::Q4_0, &b, &mut y);
    assert!(y[..16].iter().all(|&v| v == 0.0) && y[16..].iter().all(|&v| v == 1.0));

    // Q4_1: d = 0.5, m = -1, nibbles 2 (lo) and 4 (hi)
    let mut b = vec![0u8; 20];
    put_f16(&mut b, 0, 0.5);
    put_f16(&mut b, 2, -1.0);
    b[4..].fill(0x42);
    dequantize_row(GgmlType::Q4_1, &b, &mut y);
    assert_eq!((y[0], y[31]), (0.0, 1.0));

    // Q5_0: d = 1, qs = 0, qh bit 0 and bit 16 set: element 0 and 16 -> 16 - 16 = 0, others -16
    let mut b = vec![0u8; 22];
    put_f16(&mut b, 0, 1.0);
    b[2..6].copy_from_slice(&(1u32 | 1 << 16).to_le_bytes());
    dequantize_row(GgmlType::Q5_0, &b, &mut y);
    assert_eq!((y[0], y[1], y[16], y[17]), (0.0, -16.0, 0.0, -16.0));

    // Q8_0: d = 0.25, qs = -4
    let mut b = vec![0u8; 34];
    put_f16(&mut b, 0, 0.25);
    b[2..].fill((-4i8) as u8);
    dequantize_row(GgmlType::Q8_0, &b, &mut y);
    assert!(y.iter().all(|&v| v == -1.0));

    // Q4_K: d = 1, dmin = 1, scale 0 = 2 / min 0 = 1 (6-bit fields), nibble 3 -> 2*3 - 1 = 5
    let mut b = vec![0u8; 144];
    put_f16(&mut b, 0, 1.0);
    put_f16(&mut b, 2, 1.0);
    b[4] = 2; // scale 0
    b[8] = 1; // min 0
    b[16..].fill(0x33);
    let mut y = [0f32; 256];
    dequantize_row(GgmlType::Q4_K, &b, &mut y);
    assert_eq!(y[0], 5.0);
    assert_eq!(y[32], 0.0, "sub-block 1 has scale 0 and min 0");

    // Q6_K: d = 1, scale[0] = 2, ql low nibble 1, qh bits 0 -> q = 1 - 32 = -31 -> -62
    let mut b = vec![0u8; 210];
    put_f16(&mut b, 208, 1.0);
    b[192] = 2;
    b[0] = 0x01;
    dequantize_row(GgmlType::Q6_K, &b, &mut y);
    assert_eq!(y[0], -62.0);

    // BF16: 0x3F80 is 1.0
    let mut y1 = [0f32; 1];
    dequantize_row(GgmlType::BF16, &[0x80, 0x3F], &mut y1);
    assert_eq!(y1[0], 1.0);
}

// ---- K-quant reference quantizers: error measured on realistic rows ------------------------------

impl Rng {
    /// Standard normal (Box-Muller).
    fn gauss(&mut self) -> f32 {
        let u1 = 1.0 - (self.f() + 1.0) / 2.0; // (0, 1]
        let u2 = (self.f() + 1.0) / 2.0;
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

/// Rows shaped like the weights we quantize: uniform, Gaussian, Gaussian with rare large outliers
/// (as in LLM weight matrices), and Gaussian whose scale changes from block to block.
fn test_rows(rng: &mut Rng, n: usize) -> Vec<(&'static str, Vec<f32>)> {
    let uniform = rng.vec(n);
    let gauss: Vec<f32> = (0..n).map(|_| 0.02 * rng.gauss()).collect();
    let outliers: Vec<f32> = (0..n)
        .map(|_| {
            let g = 0.02 * rng.gauss();
            if rng.f() > 0.98 { g * 12.0 } else { g }
        })
        .collect();
    let scaled: Vec<f32> = (0..n).map(|i| rng.gauss() * (1.0 + (i / 256) as f32).powi(2) * 1e-3).collect();
    vec![("uniform", uniform), ("gauss", gauss), ("outliers", outliers), ("block-scaled", scaled)]
}

fn round_trip(t: GgmlType, x: &[f32]) -> Vec<f32> {
    let mut q = bytes_for(t, x.len());
    quantize_row(t, x, &mut q);
    let mut y = vec![0f32; x.len()];
    dequantize_row(t, &q, &mut y);
    y
}

/// RMS of `x - y` over RMS of `x`.
fn rel_rms(x: &[f32], y: &[f32]) -> f32 {
    let e: f64 = x.iter().zip(y).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
    let s: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
    (e / s).sqrt() as f32
}

const K_TYPES: [GgmlType; 5] = [GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

/// Relative RMS error limits per K format and row kind. Measured (seed 0x5EED_0001, 64 blocks):
///
/// ```text
///               Q2_K   Q3_K   Q4_K   Q5_K   Q6_K
/// uniform      0.222  0.117  0.061  0.028  0.015
/// gauss        0.267  0.143  0.078  0.036  0.019
/// outliers     0.277  0.182  0.102  0.048  0.029
/// block-scaled 0.266  0.142  0.078  0.036  0.019
/// ```
///
/// The limits leave ~10-15% margin. A quantizer that loses a bit of precision (or the search) lands
/// above them: plain min/max grids measure 0.33 (Q2_K gauss), 0.154 (Q3_K), 0.038 (Q5_K); a
/// quantizer that writes nothing measures 1.0.
fn rms_limit(t: GgmlType, kind: &str) -> f32 {
    let outliers = kind == "outliers";
    match (t, outliers) {
        (GgmlType::Q2_K, false) => 0.30,
        (GgmlType::Q2_K, true) => 0.31,
        (GgmlType::Q3_K, false) => 0.16,
        (GgmlType::Q3_K, true) => 0.20,
        (GgmlType::Q4_K, false) => 0.09,
        (GgmlType::Q4_K, true) => 0.115,
        (GgmlType::Q5_K, false) => 0.04,
        (GgmlType::Q5_K, true) => 0.055,
        (GgmlType::Q6_K, false) => 0.022,
        (GgmlType::Q6_K, true) => 0.033,
        _ => unreachable!(),
    }
}

#[test]
fn k_quants_relative_rms_error_within_measured_limits() {
    let mut rng = Rng(0x5EED_0001);
    for (kind, x) in test_rows(&mut rng, 256 * 64) {
        for t in K_TYPES {
            let err = rel_rms(&x, &round_trip(t, &x));
            let limit = rms_limit(t, kind);
            assert!(err < limit, "{} on {kind} rows: relative RMS error {err:.4} >= {limit}", t.name());
        }
    }
}

#[test]
fn k_quant_error_falls_with_every_extra_bit() {
    let mut rng = Rng(0x5EED_0002);
    for (kind, x) in test_rows(&mut rng, 256 * 16) {
        let errs: Vec<f32> = K_TYPES.iter().map(|&t| rel_rms(&x, &round_trip(t, &x))).collect();
        for w in errs.windows(2) {
            // each extra bit should roughly halve the error; demand at least a third off
            assert!(w[1] < w[0] * 0.67, "{kind}: errors Q2_K..Q6_K {errs:?} do not fall with the bits");
        }
    }
}

#[test]
fn k_quant_requantizing_dequantized_values_is_stable() {
    // Values already on a K grid should mostly come back to the same grid. Not exactly: the
    // per-sub-block fit can find another grid that fits a few levels as well, which moves the
    // block's super-scale (seen on outlier rows).
    let mut rng = Rng(0x5EED_0003);
    for (kind, x) in test_rows(&mut rng, 256 * 32) {
        for t in K_TYPES {
            let y = round_trip(t, &x);
            let first = rel_rms(&x, &y);
            let again = rel_rms(&y, &round_trip(t, &y));
            let frac = if kind == "outliers" { 0.5 } else { 0.1 };
            assert!(again <= first * frac, "{} on {kind}: requantized error {again:.5} vs first {first:.5}", t.name());
        }
    }
}

#[test]
fn k_quants_handle_degenerate_blocks() {
    let n = 256;
    for t in K_TYPES {
        // zeros come back exactly
        let y = round_trip(t, &vec![0f32; n]);
        assert!(y.iter().all(|&v| v == 0.0), "{}: zeros decode to {:?}", t.name(), &y[..4]);
        // constant blocks, all-positive and all-negative blocks, tiny and large magnitudes
        let mut rng = Rng(11);
        let cases: Vec<(&str, Vec<f32>)> = vec![
            ("constant +", vec![0.5; n]),
            ("constant -", vec![-0.5; n]),
            ("positive", (0..n).map(|_| 1.0 + rng.f().abs()).collect()),
            ("negative", (0..n).map(|_| -1.0 - rng.f().abs()).collect()),
            ("tiny", (0..n).map(|_| rng.f() * 1e-3).collect()),
            ("large", (0..n).map(|_| rng.f() * 1e4).collect()),
            ("one spike", (0..n).map(|i| if i == 77 { 3.0 } else { 0.0 }).collect()),
        ];
        for (name, x) in cases {
            let y = round_trip(t, &x);
            let err = rel_rms(&x, &y);
            // a two-bit format cannot place a constant between its grid points exactly; all must
            // still be far better than nothing and finite
            assert!(y.iter().all(|v| v.is_finite()) && err < 0.35, "{} on {name}: relative RMS error {err}", t.name());
        }
        // non-finite input must not panic (the output is unspecified)
        let mut x = vec![0.25f32; n];
        x[3] = f32::NAN;
        x[9] = f32::INFINITY;
        let _ = round_trip(t, &x);
    }
}

#[test]
fn k_quant_blocks_decode_to_known_layout() {
    // A ramp over one block checks where each element's bits land: the quantizer and the
    // dequantizer share no code, so a swapped group or nibble shows up as a large error at that
    // element, not only in the RMS.
    let x: Vec<f32> = (0..256).map(|i| ((i * 37) % 256) as f32 / 128.0 - 1.0).collect();
    for t in K_TYPES {
        let y = round_trip(t, &x);
        let worst = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= bound(t), "{}: worst element error {worst}", t.name());
    }
}
