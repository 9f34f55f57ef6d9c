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
        _ => 1.0,
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
    for t in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K] {
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
