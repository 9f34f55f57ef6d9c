//! Quant formats: block layouts with scalar Rust references (to-f32, from-f32, dot products).
//!
//! These references are the specification the assembly kernels are tested against. One row of
//! `TypeTraits` per format, as in ggml's type traits: block size, bytes per block, to-f32,
//! from-f32, the activation format its dot product takes and that dot product.
//!
//! Blocks are read with explicit little-endian loads at byte offsets: GGUF tensor data is only
//! 32-byte aligned and blocks of 18, 20, 22 ... bytes are not aligned at all.

mod float;
mod kquants;
mod legacy;
pub mod levels;
pub mod q8a;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    BF16,
}

pub const ALL_TYPES: [GgmlType; 15] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q8_K,
    GgmlType::BF16,
];

/// One row per format.
pub struct TypeTraits {
    pub ty: GgmlType,
    pub name: &'static str,
    pub id: u32,
    pub block_size: usize,
    pub type_size: usize,
    /// One block (or, for float types, `dst.len()` elements) to f32.
    pub to_f32: fn(&[u8], &mut [f32]),
    /// f32 to blocks (round-to-nearest reference quantizer); None where not provided.
    pub from_f32: Option<fn(&[f32], &mut [u8])>,
    /// The activation format the dot product takes.
    pub vec_dot_type: GgmlType,
}

macro_rules! row {
    ($t:ident, $name:expr, $id:expr, $bs:expr, $ts:expr, $to:expr, $from:expr, $act:ident) => {
        TypeTraits {
            ty: GgmlType::$t,
            name: $name,
            id: $id,
            block_size: $bs,
            type_size: $ts,
            to_f32: $to,
            from_f32: $from,
            vec_dot_type: GgmlType::$act,
        }
    };
}

static TRAITS: [TypeTraits; 15] = [
    row!(F32, "F32", 0, 1, 4, float::f32_to_f32, Some(float::f32_from_f32), F32),
    row!(F16, "F16", 1, 1, 2, float::f16_to_f32, Some(float::f16_from_f32), F32),
    row!(Q4_0, "Q4_0", 2, 32, 18, legacy::q4_0_to_f32, Some(legacy::q4_0_from_f32), Q8_0),
    row!(Q4_1, "Q4_1", 3, 32, 20, legacy::q4_1_to_f32, Some(legacy::q4_1_from_f32), Q8_0),
    row!(Q5_0, "Q5_0", 6, 32, 22, legacy::q5_0_to_f32, Some(legacy::q5_0_from_f32), Q8_0),
    row!(Q5_1, "Q5_1", 7, 32, 24, legacy::q5_1_to_f32, Some(legacy::q5_1_from_f32), Q8_0),
    row!(Q8_0, "Q8_0", 8, 32, 34, legacy::q8_0_to_f32, Some(legacy::q8_0_from_f32), Q8_0),
    row!(Q8_1, "Q8_1", 9, 32, 36, legacy::q8_1_to_f32, Some(legacy::q8_1_from_f32), Q8_1),
    row!(Q2_K, "Q2_K", 10, 256, 84, kquants::q2_k_to_f32, Some(kquants::q2_k_from_f32), Q8_K),
    row!(Q3_K, "Q3_K", 11, 256, 110, kquants::q3_k_to_f32, Some(kquants::q3_k_from_f32), Q8_K),
    row!(Q4_K, "Q4_K", 12, 256, 144, kquants::q4_k_to_f32, Some(kquants::q4_k_from_f32), Q8_K),
    row!(Q5_K, "Q5_K", 13, 256, 176, kquants::q5_k_to_f32, Some(kquants::q5_k_from_f32), Q8_K),
    row!(Q6_K, "Q6_K", 14, 256, 210, kquants::q6_k_to_f32, Some(kquants::q6_k_from_f32), Q8_K),
    row!(Q8_K, "Q8_K", 15, 256, 292, kquants::q8_k_to_f32, Some(kquants::q8_k_from_f32), Q8_K),
    row!(BF16, "BF16", 30, 1, 2, float::bf16_to_f32, Some(float::bf16_from_f32), F32),
];

pub fn traits(t: GgmlType) -> &'static TypeTraits {
    &TRAITS[ALL_TYPES.iter().position(|&x| x == t).unwrap()]
}

impl GgmlType {
    pub fn from_u32(v: u32) -> Option<GgmlType> {
        TRAITS.iter().find(|t| t.id == v).map(|t| t.ty)
    }
    pub fn id(self) -> u32 {
        traits(self).id
    }
    pub fn name(self) -> &'static str {
        traits(self).name
    }
    pub fn block_size(self) -> usize {
        traits(self).block_size
    }
    pub fn type_size(self) -> usize {
        traits(self).type_size
    }
    /// Bytes of a row of `n` elements; None if `n` is not a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        let bs = self.block_size();
        if n % bs != 0 {
            return None;
        }
        (n / bs).checked_mul(self.type_size())
    }
    pub fn activation_type(self) -> GgmlType {
        traits(self).vec_dot_type
    }
    pub fn is_float(self) -> bool {
        matches!(self, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
    }
}

#[inline]
pub(crate) fn f16_at(b: &[u8], off: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[off], b[off + 1]])).to_f32()
}

#[inline]
pub(crate) fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
}

/// Dequantize a row: `src.len() == t.row_bytes(dst.len())`.
pub fn dequantize_row(t: GgmlType, src: &[u8], dst: &mut [f32]) {
    let tr = traits(t);
    assert_eq!(Some(src.len()), t.row_bytes(dst.len()), "dequantize_row {}: length mismatch", tr.name);
    if t.is_float() {
        (tr.to_f32)(src, dst);
        return;
    }
    for (b, out) in src.chunks_exact(tr.type_size).zip(dst.chunks_exact_mut(tr.block_size)) {
        (tr.to_f32)(b, out);
    }
}

/// Fused reference dot of one weight row with f32 activations: dequantize block by block into a
/// stack buffer, multiply-accumulate in f32 per block, sum the blocks in f32.
pub fn dot_f32(t: GgmlType, w_row: &[u8], x: &[f32]) -> f32 {
    let tr = traits(t);
    assert_eq!(Some(w_row.len()), t.row_bytes(x.len()), "dot_f32 {}: length mismatch", tr.name);
    let (bs, ts) = if t.is_float() { (64, 64 * tr.type_size) } else { (tr.block_size, tr.type_size) };
    let mut buf = [0f32; 256];
    let mut sum = 0f32;
    for (i, xb) in x.chunks(bs).enumerate() {
        let n = xb.len();
        let wb = &w_row[i * ts..i * ts + n * tr.type_size / tr.block_size];
        (tr.to_f32)(wb, &mut buf[..n]);
        let mut s = 0f32;
        for j in 0..n {
            s += buf[j] * xb[j];
        }
        sum += s;
    }
    sum
}

/// Quantize a row with the format's reference quantizer. Panics for formats without one (only
/// tests and explicit conversions call this).
pub fn quantize_row(t: GgmlType, x: &[f32], dst: &mut [u8]) {
    let tr = traits(t);
    assert_eq!(Some(dst.len()), t.row_bytes(x.len()), "quantize_row {}: length mismatch", tr.name);
    let f = tr.from_f32.unwrap_or_else(|| panic!("no reference quantizer for {} yet", tr.name));
    if t.is_float() {
        f(x, dst);
        return;
    }
    for (xb, b) in x.chunks_exact(tr.block_size).zip(dst.chunks_exact_mut(tr.type_size)) {
        f(xb, b);
    }
}

/// Quantize f32 activations into `t.activation_type()` blocks.
pub fn quantize_activation(t: GgmlType, x: &[f32], dst: &mut [u8]) {
    quantize_row(t.activation_type(), x, dst)
}

/// Reference dot of a weight row with activations quantized to `t.activation_type()`: both sides
/// dequantized block by block (exact values), multiplied in f32 per block, blocks summed in f32.
pub fn vec_dot(t: GgmlType, n: usize, w_row: &[u8], act: &[u8]) -> f32 {
    let at = t.activation_type();
    let mut xa = vec![0f32; n];
    dequantize_row(at, act, &mut xa);
    dot_f32(t, w_row, &xa)
}

#[cfg(test)]
mod tests;
