//! The kernel table: one function pointer per operation, filled in tiers. Every entry starts as
//! the scalar Rust reference; each ISA tier the CPU has (and `LANNER_CPU` allows) overwrites the
//! entries it implements. The hot loops only ever call through the table.

use super::features::{cpu_info, Tier};
use super::reference;
use crate::quant::q8a::{self, Q8a};
use std::sync::OnceLock;

#[derive(Clone, Copy)]
pub struct Kernels {
    pub tier: Tier,
    /// sum(a[i] * b[i]); a.len() == b.len().
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    pub dot_f32_name: &'static str,
    /// Fused dot of one quantized weight row with f32 activations, per weight type (index =
    /// position in `quant::ALL_TYPES`). `None`: the backend dequantizes the row (scalar
    /// reference) and calls `dot_f32` — the reference composition every entry starts from.
    pub dot_row_f32: [Option<(fn(&[u8], &[f32]) -> f32, &'static str)>; 15],
    /// f32 activations to Q8A (`crate::quant::q8a`): `(x, qs, ds)`, x.len() a multiple of 32.
    pub quantize_q8a: fn(&[f32], &mut [i8], &mut [f32]),
    pub quantize_q8a_name: &'static str,
    /// Dots of consecutive quantized weight rows with one Q8A (int8) activation row, per weight
    /// type (index as `dot_row_f32`): `f(w, a, out)`, `w` = `out.len()` rows of `a.len()` values.
    /// Only filled where the tier has int8 kernels: `None` keeps the f32 path. The scalar
    /// reference `q8a::dot` (per row) specifies them.
    pub dot_rows_q8a: [Option<(DotQ8a, &'static str)>; 15],
    /// Dot-product GEMM microkernel (see `reference::gemm_f32_4x4`), for tiers without a packed
    /// one (scalar); `gemm_k_multiple` is the k granularity it needs (the framework uses
    /// plain dots when k is not a multiple).
    pub gemm_f32_4x4: GemmKernel,
    pub gemm_k_multiple: usize,
    pub gemm_name: &'static str,
    /// Attention scores of one query head against a run of cached keys (see
    /// `reference::attn_scores`): `f(q, k, stride, scale, out)`, returns the largest score.
    pub attn_scores: AttnScores,
    /// Softmax numerators in place (see `reference::attn_softmax`): `f(x, max)`, returns their
    /// sum.
    pub attn_softmax: fn(&mut [f32], f32) -> f32,
    /// Probability-weighted sum of a run of cached value rows (see `reference::attn_accum`):
    /// `f(p, v, stride, acc)`.
    pub attn_accum: AttnAccum,
    pub attn_name: &'static str,
    /// Gated activations of the feed-forward block, `f(gate, up)` (see `reference::swiglu` and
    /// `reference::geglu`); gate.len() == up.len().
    pub swiglu: fn(&mut [f32], &[f32]),
    pub geglu: fn(&mut [f32], &[f32]),
    pub glu_name: &'static str,
    /// GEMM microkernel over packed panels (see `reference::gemm_packed`), where the tier has
    /// one: the framework then packs dequantized weights and activations for it and the 4 x 4
    /// kernel above is not used.
    pub gemm_packed: Option<PackedGemm>,
    /// Int8 GEMM microkernel over packed panels (see `reference::gemm_q8a`): weights as 8-bit
    /// levels (`quant::levels`), activations in Q8A, where the tier has one; the framework uses it
    /// for several tokens of the weight types with levels, the f32 kernel above for the rest.
    pub gemm_q8a: Option<Q8aGemm>,
    /// Whole weight rows to f32, per weight type (index as `dot_row_f32`): `f(src, dst)` with
    /// `src.len() == t.row_bytes(dst.len())`, bit-exact against `quant::dequantize_row` (the
    /// prefill GEMM dequantizes every row once per call). `None`: that scalar reference.
    pub dequant_f32: [Option<(DequantFn, &'static str)>; 15],
    /// 16 x 16 transpose (`reference::transpose_16x16`), for packing weight panels; `None`
    /// packs with plain loops.
    pub transpose_16x16: Option<(Transpose, &'static str)>,
}

pub type Transpose = fn(&[f32], usize, &mut [f32], usize);

/// A packed-panel GEMM microkernel and its tile: `mr` tokens x `nr` weight rows.
#[derive(Clone, Copy)]
pub struct PackedGemm {
    pub f: PackedKernel,
    pub mr: usize,
    pub nr: usize,
    pub name: &'static str,
}

/// `f(wp, xp, kc, c, ldc, fresh)`: `reference::gemm_packed` with the tile's mr, nr.
///
/// # Safety
/// `c` must point to `mr` rows `ldc` floats apart (`ldc >= nr`), the first `nr` floats of each
/// valid for reads and writes and not accessed by anyone else during the call (rows of C that
/// other threads write in between are fine: the tile only touches its own `nr` columns).
pub type PackedKernel = unsafe fn(&[f32], &[f32], usize, *mut f32, usize, bool);

/// An int8 packed-panel GEMM microkernel and its tile: `mr` tokens x `nr` weight rows; `f32u`
/// takes units of 32 values of k (8 groups), `f16u` units of 16 (4 groups).
#[derive(Clone, Copy)]
pub struct Q8aGemm {
    pub f32u: Q8aKernel,
    pub f16u: Q8aKernel,
    pub mr: usize,
    pub nr: usize,
    pub name: &'static str,
}

/// `f(wp, xp, nu, c, ldc, fresh)`: `reference::gemm_q8a` with the tile's mr, nr and the kernel's
/// groups per unit.
///
/// # Safety
/// As `PackedKernel`: `c` points to `mr` rows `ldc` floats apart, this call's alone.
pub type Q8aKernel = unsafe fn(&[u8], &[u8], usize, *mut f32, usize, bool);

pub type GemmKernel = fn(&[f32], usize, &[f32], usize, usize, &mut [f32], usize);
pub type DotQ8a = fn(&[u8], Q8a<'_>, &mut [f32]);
pub type AttnScores = fn(&[f32], &[f32], usize, f32, &mut [f32]) -> f32;
pub type AttnAccum = fn(&[f32], &[f32], usize, &mut [f32]);
pub type DequantFn = fn(&[u8], &mut [f32]);

impl Kernels {
    pub fn dot_row(&self, t: crate::quant::GgmlType) -> Option<fn(&[u8], &[f32]) -> f32> {
        self.dot_row_f32[type_index(t)].map(|(f, _)| f)
    }
    pub fn dot_q8a(&self, t: crate::quant::GgmlType) -> Option<DotQ8a> {
        self.dot_rows_q8a[type_index(t)].map(|(f, _)| f)
    }
    /// Dequantize one row of type `t` (`src.len() == t.row_bytes(dst.len())`) with the tier's
    /// kernel, or the scalar reference where it has none; the results are the same bits.
    pub fn dequantize(&self, t: crate::quant::GgmlType, src: &[u8], dst: &mut [f32]) {
        match self.dequant_f32[type_index(t)] {
            Some((f, _)) => f(src, dst),
            None => crate::quant::dequantize_row(t, src, dst),
        }
    }
}

pub fn type_index(t: crate::quant::GgmlType) -> usize {
    crate::quant::ALL_TYPES.iter().position(|&x| x == t).unwrap()
}

// Safe wrappers of asm entry points, shared by the architectures' modules below: each checks the
// lengths its kernel trusts, once per call; the tier (and so the instruction set) was checked
// when the table was filled.

/// Wrap a packed GEMM microkernel of tile `$mr` x `$nr`: checks the panels' lengths.
#[allow(unused_macros)]
macro_rules! packed_kernel {
    ($name:ident, $asm:ident, $mr:expr, $nr:expr) => {
        /// # Safety
        /// See `super::PackedKernel`.
        unsafe fn $name(wp: &[f32], xp: &[f32], kc: usize, c: *mut f32, ldc: usize, fresh: bool) {
            assert!(wp.len() >= kc * $nr && xp.len() >= kc * $mr && ldc >= $nr, "packed gemm: short panels");
            // SAFETY: panels checked above, C by the caller's contract; the tier was checked
            // when the table was filled.
            unsafe { $asm(wp.as_ptr(), xp.as_ptr(), kc, c, ldc, fresh as usize) }
        }
    };
}

/// Wrap a fused row kernel (`$elems` values in `$bytes` per block; F16 / BF16: 1 in 2).
#[allow(unused_macros)]
macro_rules! row_kernel {
    ($name:ident, $asm:ident, $elems:expr, $bytes:expr) => {
        #[allow(clippy::modulo_one)] // F16 / BF16: one value per "block"
        fn $name(w: &[u8], x: &[f32]) -> f32 {
            let nb = x.len() / $elems;
            assert!(x.len() % $elems == 0 && w.len() == nb * $bytes, "row kernel: length mismatch");
            // SAFETY: tier checked when the table was filled; exactly nb blocks are read.
            unsafe { $asm(w.as_ptr(), x.as_ptr(), nb) }
        }
    };
}

/// Wrap a weight rows x Q8A kernel (`$elems` values in `$bytes` per weight block).
#[allow(unused_macros)]
macro_rules! q8a_kernel {
    ($name:ident, $asm:ident, $elems:expr, $bytes:expr) => {
        fn $name(w: &[u8], a: $crate::quant::q8a::Q8a<'_>, out: &mut [f32]) {
            let n = a.qs.len() / 2;
            let nb = n / $elems;
            assert!(
                n % $elems == 0 && a.qs.len() == 2 * n && a.ds.len() == n / 16 && w.len() == out.len() * nb * $bytes,
                "q8a kernel: length mismatch"
            );
            // SAFETY: tier checked when the table was filled; out.len() rows of nb weight
            // blocks, 2 n int8 values and n / 16 scales are read, out.len() floats written.
            unsafe { $asm(w.as_ptr(), a.qs.as_ptr(), a.ds.as_ptr(), nb, out.len(), out.as_mut_ptr()) }
        }
    };
}

impl Kernels {
    /// The table for `tier` (which must not exceed what the CPU supports).
    pub fn for_tier(tier: Tier) -> Kernels {
        let mut k = Kernels {
            tier,
            dot_f32: reference::dot_f32,
            dot_f32_name: "dot_f32_scalar",
            dot_row_f32: [None; 15],
            quantize_q8a: q8a::quantize,
            quantize_q8a_name: "quantize_q8a_scalar",
            dot_rows_q8a: [None; 15],
            gemm_f32_4x4: reference::gemm_f32_4x4,
            gemm_k_multiple: 1,
            gemm_name: "gemm_f32_4x4_scalar",
            attn_scores: reference::attn_scores,
            attn_softmax: reference::attn_softmax,
            attn_accum: reference::attn_accum,
            attn_name: "attn_scalar",
            swiglu: reference::swiglu,
            geglu: reference::geglu,
            glu_name: "glu_scalar",
            gemm_packed: None,
            gemm_q8a: None,
            dequant_f32: [None; 15],
            transpose_16x16: None,
        };
        #[cfg(all(lanner_asm, target_arch = "x86_64"))]
        x86::fill(&mut k, tier);
        #[cfg(all(lanner_asm, target_arch = "aarch64"))]
        arm::fill(&mut k, tier);
        k
    }
}

/// The table in use: the detected tier, capped by `LANNER_CPU`.
pub fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        let k = Kernels::for_tier(cpu_info().tier);
        log::debug!("cpu kernels: tier {}, dot_f32 = {}", k.tier.name(), k.dot_f32_name);
        k
    })
}

/// The int8 multiply-add peak of one core in GOP/s (2 per byte product), timed over about
/// `seconds` with the tier's peak loop (`asm/x86_64/peak_avx512vnni.S`); `None` below the
/// avx512vnni tier. For the benchmark's "fraction of the int8 peak".
pub fn int8_peak_gops(seconds: f64) -> Option<f64> {
    #[cfg(all(lanner_asm, target_arch = "x86_64"))]
    if kernels().tier >= Tier::Avx512Vnni {
        extern "C" {
            fn lanner_int8_peak_avx512vnni(iters: usize);
        }
        const OPS_PER_ITER: f64 = 24.0 * 64.0 * 2.0;
        let mut iters = 1usize << 16;
        loop {
            let t0 = std::time::Instant::now();
            // SAFETY: the tier has AVX-512 VNNI; the loop touches no memory.
            unsafe { lanner_int8_peak_avx512vnni(iters) };
            let dt = t0.elapsed().as_secs_f64();
            if dt >= seconds || iters >= 1 << 40 {
                return Some(iters as f64 * OPS_PER_ITER / dt / 1e9);
            }
            iters *= 2;
        }
    }
    let _ = seconds;
    None
}

/// The kernels in use, in words (for `Engine.info` and `cpu_info()`): the tier alone does not say
/// which operations have assembly behind them yet.
pub fn kernels_summary() -> String {
    let k = kernels();
    let list = |v: Vec<&str>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    let rows: Vec<&str> = k.dot_row_f32.iter().flatten().map(|(_, n)| *n).collect();
    let int8: Vec<&str> = k.dot_rows_q8a.iter().flatten().map(|(_, n)| *n).collect();
    let int8 = if int8.is_empty() { "none".to_string() } else { format!("{} ({})", list(int8), k.quantize_q8a_name) };
    let dequant: Vec<&str> = k.dequant_f32.iter().flatten().map(|(_, n)| *n).collect();
    format!(
        "{}; {}; {}; {}; fused row x f32: {}; decode row x int8 (Q8A): {}; rows to f32: {}; everything else: scalar Rust references",
        k.dot_f32_name,
        k.gemm_packed.map_or(k.gemm_name, |g| g.name),
        k.attn_name,
        k.glu_name,
        list(rows),
        int8,
        list(dequant)
    )
}

/// Every tier this machine can run, lowest first (for the checkasm harness and benchmarks).
pub fn available_tiers() -> Vec<Tier> {
    let top = cpu_info().detected;
    [Tier::Scalar, Tier::Avx2, Tier::Avx512, Tier::Avx512Vnni, Tier::Neon, Tier::NeonDotprod]
        .into_iter()
        .filter(|&t| t <= top && same_family(t, top))
        .collect()
}

fn same_family(t: Tier, top: Tier) -> bool {
    let arm = |x: Tier| matches!(x, Tier::Neon | Tier::NeonDotprod);
    t == Tier::Scalar || arm(t) == arm(top)
}

#[cfg(all(lanner_asm, target_arch = "x86_64"))]
pub(crate) mod x86 {
    use super::{reference, Kernels, Tier};

    use super::type_index;
    use crate::quant::GgmlType;

    extern "C" {
        fn lanner_dot_f32_avx2(a: *const f32, b: *const f32, n: usize) -> f32;
        fn lanner_dot_f32_avx512(a: *const f32, b: *const f32, n: usize) -> f32;
        fn lanner_dot_q8_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_1_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q5_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q6_k_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_f16_f32_avx512(w: *const u8, x: *const f32, n: usize) -> f32;
        fn lanner_dot_bf16_f32_avx512(w: *const u8, x: *const f32, n: usize) -> f32;
        fn lanner_dot_f16_f32_avx2(w: *const u8, x: *const f32, n: usize) -> f32;
        fn lanner_dot_bf16_f32_avx2(w: *const u8, x: *const f32, n: usize) -> f32;
        #[cfg(test)]
        pub fn lanner_checkasm_call(f: *const (), args: *const u64, ret: *mut f32) -> u64;
        fn lanner_quantize_q8a_avx512(x: *const f32, qs: *mut i8, ds: *mut f32, nblocks: usize);
        fn lanner_quantize_q8a_avx2(x: *const f32, qs: *mut i8, ds: *mut f32, nblocks: usize);
        fn lanner_dot_q8_0_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_0_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_1_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_0_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_1_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_k_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_k_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q6_k_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q8_0_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_0_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_1_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_0_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_1_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_k_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_k_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q6_k_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q2_k_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q3_k_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q2_k_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q3_k_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_gemm_packed_12x32_avx512(wp: *const f32, xp: *const f32, kc: usize, c: *mut f32, ldc: usize, fresh: usize);
        fn lanner_gemm_q8a_6x32_u32_avx512vnni(wp: *const u8, xp: *const u8, nu: usize, c: *mut f32, ldc: usize, fresh: usize);
        fn lanner_gemm_q8a_6x32_u16_avx512vnni(wp: *const u8, xp: *const u8, nu: usize, c: *mut f32, ldc: usize, fresh: usize);
        fn lanner_gemm_packed_6x16_avx2(wp: *const f32, xp: *const f32, kc: usize, c: *mut f32, ldc: usize, fresh: usize);
        fn lanner_transpose_16x16_avx512(src: *const f32, lds: usize, dst: *mut f32, ldd: usize);
        fn lanner_dequant_q8_0_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q4_0_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q4_1_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q5_0_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q5_1_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q4_k_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q5_k_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q6_k_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_f16_avx512(src: *const u8, dst: *mut f32, n: usize);
        fn lanner_dequant_bf16_avx512(src: *const u8, dst: *mut f32, n: usize);
        fn lanner_dequant_q8_0_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q4_0_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q4_1_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q5_0_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q5_1_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q4_k_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q5_k_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q6_k_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_f16_avx2(src: *const u8, dst: *mut f32, n: usize);
        fn lanner_dequant_bf16_avx2(src: *const u8, dst: *mut f32, n: usize);
        fn lanner_dequant_q2_k_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q3_k_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q2_k_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_dequant_q3_k_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
        fn lanner_attn_scores_avx512(q: *const f32, k: *const f32, stride: usize, n: usize, hd: usize, out: *mut f32, scale: f32) -> f32;
        fn lanner_attn_accum_avx512(p: *const f32, v: *const f32, stride: usize, n: usize, hd: usize, acc: *mut f32);
        fn lanner_attn_softmax_avx512(x: *mut f32, n: usize, max: f32) -> f32;
        fn lanner_attn_scores_avx2(q: *const f32, k: *const f32, stride: usize, n: usize, hd: usize, out: *mut f32, scale: f32) -> f32;
        fn lanner_attn_accum_avx2(p: *const f32, v: *const f32, stride: usize, n: usize, hd: usize, acc: *mut f32);
        fn lanner_attn_softmax_avx2(x: *mut f32, n: usize, max: f32) -> f32;
        fn lanner_glu_avx512(gate: *mut f32, up: *const f32, n: usize, a1: f32, a3: f32);
        fn lanner_glu_avx2(gate: *mut f32, up: *const f32, n: usize, a1: f32, a3: f32);
    }

    /// Whether `n` rows of `hd` floats, `stride` floats apart, fit in `len` floats.
    fn rows_fit(n: usize, hd: usize, stride: usize, len: usize) -> bool {
        n == 0 || (n - 1).checked_mul(stride).and_then(|x| x.checked_add(hd)).is_some_and(|need| need <= len)
    }

    /// Wrap the attention kernels of one tier: check the lengths (the asm trusts them) per call.
    macro_rules! attn_kernels {
        ($scores:ident, $softmax:ident, $accum:ident, $asm_scores:ident, $asm_softmax:ident, $asm_accum:ident) => {
            fn $scores(q: &[f32], k: &[f32], stride: usize, scale: f32, out: &mut [f32]) -> f32 {
                assert!(rows_fit(out.len(), q.len(), stride, k.len()), "attn_scores: keys shorter than out.len() rows");
                // SAFETY: tier checked when the table was filled; out.len() rows of q.len() floats
                // are read from k (checked above), out.len() floats written.
                unsafe { $asm_scores(q.as_ptr(), k.as_ptr(), stride, out.len(), q.len(), out.as_mut_ptr(), scale) }
            }

            fn $softmax(x: &mut [f32], max: f32) -> f32 {
                // SAFETY: tier checked when the table was filled; x.len() floats read and written.
                unsafe { $asm_softmax(x.as_mut_ptr(), x.len(), max) }
            }

            fn $accum(p: &[f32], v: &[f32], stride: usize, acc: &mut [f32]) {
                assert!(rows_fit(p.len(), acc.len(), stride, v.len()), "attn_accum: values shorter than p.len() rows");
                // SAFETY: tier checked when the table was filled; p.len() rows of acc.len() floats
                // are read from v (checked above), acc.len() floats read and written.
                unsafe { $asm_accum(p.as_ptr(), v.as_ptr(), stride, p.len(), acc.len(), acc.as_mut_ptr()) }
            }
        };
    }
    attn_kernels!(attn_scores_avx512, attn_softmax_avx512, attn_accum_avx512, lanner_attn_scores_avx512, lanner_attn_softmax_avx512, lanner_attn_accum_avx512);
    /// The gated activations through one kernel, `x * up / (1 + exp(a1 x + a3 x^3))`: SiLU is
    /// x sigmoid(x) (a1 = -1), tanh-GELU is x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)).
    const SWIGLU: (f32, f32) = (-1.0, 0.0);
    const GEGLU: (f32, f32) = (-2.0 * reference::SQRT_2_OVER_PI, -2.0 * reference::SQRT_2_OVER_PI * 0.044_715);

    /// Wrap a gated-activation kernel as the SwiGLU and GeGLU entries.
    macro_rules! glu_kernels {
        ($swiglu:ident, $geglu:ident, $asm:ident) => {
            fn $swiglu(gate: &mut [f32], up: &[f32]) {
                assert_eq!(gate.len(), up.len(), "swiglu: shapes");
                // SAFETY: tier checked when the table was filled; gate.len() floats of each.
                unsafe { $asm(gate.as_mut_ptr(), up.as_ptr(), gate.len(), SWIGLU.0, SWIGLU.1) }
            }

            fn $geglu(gate: &mut [f32], up: &[f32]) {
                assert_eq!(gate.len(), up.len(), "geglu: shapes");
                // SAFETY: as above.
                unsafe { $asm(gate.as_mut_ptr(), up.as_ptr(), gate.len(), GEGLU.0, GEGLU.1) }
            }
        };
    }
    glu_kernels!(swiglu_avx512, geglu_avx512, lanner_glu_avx512);
    glu_kernels!(swiglu_avx2, geglu_avx2, lanner_glu_avx2);

    attn_kernels!(attn_scores_avx2, attn_softmax_avx2, attn_accum_avx2, lanner_attn_scores_avx2, lanner_attn_softmax_avx2, lanner_attn_accum_avx2);

    packed_kernel!(gemm_packed_12x32_avx512, lanner_gemm_packed_12x32_avx512, 12, 32);

    fn transpose_16x16_avx512(src: &[f32], lds: usize, dst: &mut [f32], ldd: usize) {
        assert!(lds >= 16 && ldd >= 16 && src.len() >= 15 * lds + 16 && dst.len() >= 15 * ldd + 16, "transpose: short buffers");
        // SAFETY: bounds checked above; the tier was checked when the table was filled.
        unsafe { lanner_transpose_16x16_avx512(src.as_ptr(), lds, dst.as_mut_ptr(), ldd) }
    }
    packed_kernel!(gemm_packed_6x16_avx2, lanner_gemm_packed_6x16_avx2, 6, 16);

    /// Wrap an int8 GEMM microkernel of `$g` groups per unit: checks the panels' lengths.
    macro_rules! q8a_gemm_kernel {
        ($name:ident, $asm:ident, $g:expr) => {
            /// # Safety
            /// See `super::Q8aKernel`.
            unsafe fn $name(wp: &[u8], xp: &[u8], nu: usize, c: *mut f32, ldc: usize, fresh: bool) {
                assert!(wp.len() >= nu * (4 * $g + 8) * 32 && xp.len() >= nu * (8 * $g + 8) * 6 && ldc >= 32, "gemm q8a: short panels");
                // SAFETY: panels checked above, C by the caller's contract; the tier was checked
                // when the table was filled.
                unsafe { $asm(wp.as_ptr(), xp.as_ptr(), nu, c, ldc, fresh as usize) }
            }
        };
    }
    q8a_gemm_kernel!(gemm_q8a_6x32_u32_avx512vnni, lanner_gemm_q8a_6x32_u32_avx512vnni, 8);
    q8a_gemm_kernel!(gemm_q8a_6x32_u16_avx512vnni, lanner_gemm_q8a_6x32_u16_avx512vnni, 4);

    row_kernel!(dot_q8_0_f32_avx512, lanner_dot_q8_0_f32_avx512, 32, 34);
    row_kernel!(dot_q4_1_f32_avx512, lanner_dot_q4_1_f32_avx512, 32, 20);
    row_kernel!(dot_q4_0_f32_avx512, lanner_dot_q4_0_f32_avx512, 32, 18);
    row_kernel!(dot_q5_0_f32_avx512, lanner_dot_q5_0_f32_avx512, 32, 22);
    row_kernel!(dot_q6_k_f32_avx512, lanner_dot_q6_k_f32_avx512, 256, 210);
    // F16 / BF16: one value per "block", any row length
    row_kernel!(dot_f16_f32_avx512, lanner_dot_f16_f32_avx512, 1, 2);
    row_kernel!(dot_bf16_f32_avx512, lanner_dot_bf16_f32_avx512, 1, 2);
    row_kernel!(dot_f16_f32_avx2, lanner_dot_f16_f32_avx2, 1, 2);
    row_kernel!(dot_bf16_f32_avx2, lanner_dot_bf16_f32_avx2, 1, 2);

    macro_rules! q8a_quantizer {
        ($name:ident, $asm:ident) => {
            fn $name(x: &[f32], qs: &mut [i8], ds: &mut [f32]) {
                let nb = x.len() / 32;
                assert!(x.len() % 32 == 0 && qs.len() == 2 * x.len() && ds.len() == 2 * nb, "quantize_q8a: lengths");
                // SAFETY: tier checked when the table was filled; exactly nb blocks are read and
                // written.
                unsafe { $asm(x.as_ptr(), qs.as_mut_ptr(), ds.as_mut_ptr(), nb) }
            }
        };
    }
    q8a_quantizer!(quantize_q8a_avx512, lanner_quantize_q8a_avx512);
    q8a_quantizer!(quantize_q8a_avx2, lanner_quantize_q8a_avx2);

    q8a_kernel!(dot_q8_0_q8a_avx512vnni, lanner_dot_q8_0_q8a_avx512vnni, 32, 34);
    q8a_kernel!(dot_q4_0_q8a_avx512vnni, lanner_dot_q4_0_q8a_avx512vnni, 32, 18);
    q8a_kernel!(dot_q4_1_q8a_avx512vnni, lanner_dot_q4_1_q8a_avx512vnni, 32, 20);
    q8a_kernel!(dot_q5_0_q8a_avx512vnni, lanner_dot_q5_0_q8a_avx512vnni, 32, 22);
    q8a_kernel!(dot_q5_1_q8a_avx512vnni, lanner_dot_q5_1_q8a_avx512vnni, 32, 24);
    q8a_kernel!(dot_q4_k_q8a_avx512vnni, lanner_dot_q4_k_q8a_avx512vnni, 256, 144);
    q8a_kernel!(dot_q5_k_q8a_avx512vnni, lanner_dot_q5_k_q8a_avx512vnni, 256, 176);
    q8a_kernel!(dot_q6_k_q8a_avx512vnni, lanner_dot_q6_k_q8a_avx512vnni, 256, 210);
    q8a_kernel!(dot_q8_0_q8a_avx2, lanner_dot_q8_0_q8a_avx2, 32, 34);
    q8a_kernel!(dot_q4_0_q8a_avx2, lanner_dot_q4_0_q8a_avx2, 32, 18);
    q8a_kernel!(dot_q4_1_q8a_avx2, lanner_dot_q4_1_q8a_avx2, 32, 20);
    q8a_kernel!(dot_q5_0_q8a_avx2, lanner_dot_q5_0_q8a_avx2, 32, 22);
    q8a_kernel!(dot_q5_1_q8a_avx2, lanner_dot_q5_1_q8a_avx2, 32, 24);
    q8a_kernel!(dot_q4_k_q8a_avx2, lanner_dot_q4_k_q8a_avx2, 256, 144);
    q8a_kernel!(dot_q5_k_q8a_avx2, lanner_dot_q5_k_q8a_avx2, 256, 176);
    q8a_kernel!(dot_q6_k_q8a_avx2, lanner_dot_q6_k_q8a_avx2, 256, 210);
    q8a_kernel!(dot_q2_k_q8a_avx512vnni, lanner_dot_q2_k_q8a_avx512vnni, 256, 84);
    q8a_kernel!(dot_q3_k_q8a_avx512vnni, lanner_dot_q3_k_q8a_avx512vnni, 256, 110);
    q8a_kernel!(dot_q2_k_q8a_avx2, lanner_dot_q2_k_q8a_avx2, 256, 84);
    q8a_kernel!(dot_q3_k_q8a_avx2, lanner_dot_q3_k_q8a_avx2, 256, 110);

    /// Wrap a row dequantizer: checks the lengths (the asm trusts them) once per row. `$elems`
    /// values in `$bytes` bytes per block (1 and 2 for F16 / BF16, whose "blocks" are values).
    macro_rules! dequant_kernel {
        ($name:ident, $asm:ident, $elems:expr, $bytes:expr) => {
            #[allow(clippy::modulo_one)] // F16 / BF16: one value per "block"
            fn $name(src: &[u8], dst: &mut [f32]) {
                let nb = dst.len() / $elems;
                assert!(dst.len() % $elems == 0 && src.len() == nb * $bytes, "dequant kernel: length mismatch");
                // SAFETY: tier checked when the table was filled; exactly nb blocks are read from
                // src and nb * $elems floats written to dst.
                unsafe { $asm(src.as_ptr(), dst.as_mut_ptr(), nb) }
            }
        };
    }
    dequant_kernel!(dequant_q8_0_avx512, lanner_dequant_q8_0_avx512, 32, 34);
    dequant_kernel!(dequant_q4_0_avx512, lanner_dequant_q4_0_avx512, 32, 18);
    dequant_kernel!(dequant_q4_1_avx512, lanner_dequant_q4_1_avx512, 32, 20);
    dequant_kernel!(dequant_q5_0_avx512, lanner_dequant_q5_0_avx512, 32, 22);
    dequant_kernel!(dequant_q5_1_avx512, lanner_dequant_q5_1_avx512, 32, 24);
    dequant_kernel!(dequant_q4_k_avx512, lanner_dequant_q4_k_avx512, 256, 144);
    dequant_kernel!(dequant_q5_k_avx512, lanner_dequant_q5_k_avx512, 256, 176);
    dequant_kernel!(dequant_q6_k_avx512, lanner_dequant_q6_k_avx512, 256, 210);
    dequant_kernel!(dequant_f16_avx512, lanner_dequant_f16_avx512, 1, 2);
    dequant_kernel!(dequant_bf16_avx512, lanner_dequant_bf16_avx512, 1, 2);
    dequant_kernel!(dequant_q8_0_avx2, lanner_dequant_q8_0_avx2, 32, 34);
    dequant_kernel!(dequant_q4_0_avx2, lanner_dequant_q4_0_avx2, 32, 18);
    dequant_kernel!(dequant_q4_1_avx2, lanner_dequant_q4_1_avx2, 32, 20);
    dequant_kernel!(dequant_q5_0_avx2, lanner_dequant_q5_0_avx2, 32, 22);
    dequant_kernel!(dequant_q5_1_avx2, lanner_dequant_q5_1_avx2, 32, 24);
    dequant_kernel!(dequant_q4_k_avx2, lanner_dequant_q4_k_avx2, 256, 144);
    dequant_kernel!(dequant_q5_k_avx2, lanner_dequant_q5_k_avx2, 256, 176);
    dequant_kernel!(dequant_q6_k_avx2, lanner_dequant_q6_k_avx2, 256, 210);
    dequant_kernel!(dequant_f16_avx2, lanner_dequant_f16_avx2, 1, 2);
    dequant_kernel!(dequant_bf16_avx2, lanner_dequant_bf16_avx2, 1, 2);
    dequant_kernel!(dequant_q2_k_avx512, lanner_dequant_q2_k_avx512, 256, 84);
    dequant_kernel!(dequant_q3_k_avx512, lanner_dequant_q3_k_avx512, 256, 110);
    dequant_kernel!(dequant_q2_k_avx2, lanner_dequant_q2_k_avx2, 256, 84);
    dequant_kernel!(dequant_q3_k_avx2, lanner_dequant_q3_k_avx2, 256, 110);

    fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: the table only holds this entry when the CPU and OS support AVX2 + FMA; the
        // kernel reads exactly n floats from each pointer.
        unsafe { lanner_dot_f32_avx2(a.as_ptr(), b.as_ptr(), n) }
    }

    fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: as above, for AVX-512F (masked loads never read past n).
        unsafe { lanner_dot_f32_avx512(a.as_ptr(), b.as_ptr(), n) }
    }

    /// Every asm entry point with at most six integer/pointer arguments (and at most one f32,
    /// which the harness sets to 1.0), the lowest tier that runs it, and arguments for a small valid call (for the callee-saved register check):
    /// (name, tier, function, args), args pointing into `buf` (>= 64 KiB, zeroed floats and bytes).
    #[cfg(test)]
    pub fn asm_entry_points(buf: &mut [u8]) -> Vec<(&'static str, Tier, *const (), [u64; 6])> {
        let p = buf.as_mut_ptr() as u64;
        let (a, b, c) = (p, p + 16384, p + 32768);
        let f = |x: *const ()| x;
        vec![
            ("dot_f32_avx2", Tier::Avx2, f(lanner_dot_f32_avx2 as *const ()), [a, b, 100, 0, 0, 0]),
            ("gemm_packed_6x16_avx2", Tier::Avx2, f(lanner_gemm_packed_6x16_avx2 as *const ()), [a, b, 9, c, 16, 1]),
            ("gemm_packed_12x32_avx512", Tier::Avx512, f(lanner_gemm_packed_12x32_avx512 as *const ()), [a, b, 9, c, 32, 1]),
            ("gemm_q8a_6x32_u32_avx512vnni", Tier::Avx512Vnni, f(lanner_gemm_q8a_6x32_u32_avx512vnni as *const ()), [a, b, 3, c, 32, 1]),
            ("gemm_q8a_6x32_u16_avx512vnni", Tier::Avx512Vnni, f(lanner_gemm_q8a_6x32_u16_avx512vnni as *const ()), [a, b, 3, c, 32, 1]),
            ("transpose_16x16_avx512", Tier::Avx512, f(lanner_transpose_16x16_avx512 as *const ()), [a, 20, b, 17, 0, 0]),
            ("dot_f32_avx512", Tier::Avx512, f(lanner_dot_f32_avx512 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dot_q8_0_f32_avx512", Tier::Avx512, f(lanner_dot_q8_0_f32_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dot_q4_1_f32_avx512", Tier::Avx512, f(lanner_dot_q4_1_f32_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dot_q4_0_f32_avx512", Tier::Avx512, f(lanner_dot_q4_0_f32_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dot_q5_0_f32_avx512", Tier::Avx512, f(lanner_dot_q5_0_f32_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dot_q6_k_f32_avx512", Tier::Avx512, f(lanner_dot_q6_k_f32_avx512 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dot_f16_f32_avx512", Tier::Avx512, f(lanner_dot_f16_f32_avx512 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dot_bf16_f32_avx512", Tier::Avx512, f(lanner_dot_bf16_f32_avx512 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dot_f16_f32_avx2", Tier::Avx2, f(lanner_dot_f16_f32_avx2 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dot_bf16_f32_avx2", Tier::Avx2, f(lanner_dot_bf16_f32_avx2 as *const ()), [a, b, 100, 0, 0, 0]),
            ("quantize_q8a_avx512", Tier::Avx512, f(lanner_quantize_q8a_avx512 as *const ()), [a, b, c, 5, 0, 0]),
            ("quantize_q8a_avx2", Tier::Avx2, f(lanner_quantize_q8a_avx2 as *const ()), [a, b, c, 5, 0, 0]),
            ("dot_q8_0_q8a_avx2", Tier::Avx2, f(lanner_dot_q8_0_q8a_avx2 as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q4_0_q8a_avx2", Tier::Avx2, f(lanner_dot_q4_0_q8a_avx2 as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q4_1_q8a_avx2", Tier::Avx2, f(lanner_dot_q4_1_q8a_avx2 as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q5_0_q8a_avx2", Tier::Avx2, f(lanner_dot_q5_0_q8a_avx2 as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q5_1_q8a_avx2", Tier::Avx2, f(lanner_dot_q5_1_q8a_avx2 as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q4_k_q8a_avx2", Tier::Avx2, f(lanner_dot_q4_k_q8a_avx2 as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q5_k_q8a_avx2", Tier::Avx2, f(lanner_dot_q5_k_q8a_avx2 as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q6_k_q8a_avx2", Tier::Avx2, f(lanner_dot_q6_k_q8a_avx2 as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q2_k_q8a_avx2", Tier::Avx2, f(lanner_dot_q2_k_q8a_avx2 as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q3_k_q8a_avx2", Tier::Avx2, f(lanner_dot_q3_k_q8a_avx2 as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q8_0_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q8_0_q8a_avx512vnni as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q4_0_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q4_0_q8a_avx512vnni as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q4_1_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q4_1_q8a_avx512vnni as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q5_0_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q5_0_q8a_avx512vnni as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q5_1_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q5_1_q8a_avx512vnni as *const ()), [a, b, c, 7, 3, c + 4096]),
            ("dot_q4_k_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q4_k_q8a_avx512vnni as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q5_k_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q5_k_q8a_avx512vnni as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q6_k_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q6_k_q8a_avx512vnni as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q2_k_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q2_k_q8a_avx512vnni as *const ()), [a, b, c, 2, 3, c + 4096]),
            ("dot_q3_k_q8a_avx512vnni", Tier::Avx512Vnni, f(lanner_dot_q3_k_q8a_avx512vnni as *const ()), [a, b, c, 2, 3, c + 4096]),
            // 37 rows of 72 floats, 80 apart (xmm0 = scale = 1 from the harness)
            ("attn_scores_avx2", Tier::Avx2, f(lanner_attn_scores_avx2 as *const ()), [a, b, 80, 37, 72, c]),
            ("attn_accum_avx2", Tier::Avx2, f(lanner_attn_accum_avx2 as *const ()), [a, b, 80, 37, 72, c]),
            ("attn_softmax_avx2", Tier::Avx2, f(lanner_attn_softmax_avx2 as *const ()), [a, 37, 0, 0, 0, 0]),
            ("attn_scores_avx512", Tier::Avx512, f(lanner_attn_scores_avx512 as *const ()), [a, b, 80, 37, 72, c]),
            ("attn_accum_avx512", Tier::Avx512, f(lanner_attn_accum_avx512 as *const ()), [a, b, 80, 37, 72, c]),
            ("glu_avx2", Tier::Avx2, f(lanner_glu_avx2 as *const ()), [a, b, 37, 0, 0, 0]),
            ("glu_avx512", Tier::Avx512, f(lanner_glu_avx512 as *const ()), [a, b, 37, 0, 0, 0]),
            ("attn_softmax_avx512", Tier::Avx512, f(lanner_attn_softmax_avx512 as *const ()), [a, 37, 0, 0, 0, 0]),
            ("dequant_q8_0_avx512", Tier::Avx512, f(lanner_dequant_q8_0_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q4_0_avx512", Tier::Avx512, f(lanner_dequant_q4_0_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q4_1_avx512", Tier::Avx512, f(lanner_dequant_q4_1_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q5_0_avx512", Tier::Avx512, f(lanner_dequant_q5_0_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q5_1_avx512", Tier::Avx512, f(lanner_dequant_q5_1_avx512 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q4_k_avx512", Tier::Avx512, f(lanner_dequant_q4_k_avx512 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q5_k_avx512", Tier::Avx512, f(lanner_dequant_q5_k_avx512 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q6_k_avx512", Tier::Avx512, f(lanner_dequant_q6_k_avx512 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_f16_avx512", Tier::Avx512, f(lanner_dequant_f16_avx512 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dequant_bf16_avx512", Tier::Avx512, f(lanner_dequant_bf16_avx512 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dequant_q8_0_avx2", Tier::Avx2, f(lanner_dequant_q8_0_avx2 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q4_0_avx2", Tier::Avx2, f(lanner_dequant_q4_0_avx2 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q4_1_avx2", Tier::Avx2, f(lanner_dequant_q4_1_avx2 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q5_0_avx2", Tier::Avx2, f(lanner_dequant_q5_0_avx2 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q5_1_avx2", Tier::Avx2, f(lanner_dequant_q5_1_avx2 as *const ()), [a, b, 3, 0, 0, 0]),
            ("dequant_q4_k_avx2", Tier::Avx2, f(lanner_dequant_q4_k_avx2 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q5_k_avx2", Tier::Avx2, f(lanner_dequant_q5_k_avx2 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q6_k_avx2", Tier::Avx2, f(lanner_dequant_q6_k_avx2 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_f16_avx2", Tier::Avx2, f(lanner_dequant_f16_avx2 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dequant_bf16_avx2", Tier::Avx2, f(lanner_dequant_bf16_avx2 as *const ()), [a, b, 100, 0, 0, 0]),
            ("dequant_q2_k_avx512", Tier::Avx512, f(lanner_dequant_q2_k_avx512 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q3_k_avx512", Tier::Avx512, f(lanner_dequant_q3_k_avx512 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q2_k_avx2", Tier::Avx2, f(lanner_dequant_q2_k_avx2 as *const ()), [a, b, 2, 0, 0, 0]),
            ("dequant_q3_k_avx2", Tier::Avx2, f(lanner_dequant_q3_k_avx2 as *const ()), [a, b, 2, 0, 0, 0]),
        ]
    }

    pub fn fill(k: &mut Kernels, tier: Tier) {
        if tier < Tier::Avx2 || tier > Tier::Avx512Vnni {
            return;
        }
        k.dot_f32 = dot_f32_avx2;
        k.dot_f32_name = "dot_f32_avx2";
        k.attn_scores = attn_scores_avx2;
        k.attn_softmax = attn_softmax_avx2;
        k.attn_accum = attn_accum_avx2;
        k.attn_name = "attn_avx2";
        k.swiglu = swiglu_avx2;
        k.geglu = geglu_avx2;
        k.glu_name = "glu_avx2";
        k.gemm_packed = Some(super::PackedGemm { f: gemm_packed_6x16_avx2, mr: 6, nr: 16, name: "gemm_packed_6x16_avx2" });
        k.quantize_q8a = quantize_q8a_avx2;
        k.quantize_q8a_name = "quantize_q8a_avx2";
        k.dot_row_f32[type_index(GgmlType::F16)] = Some((dot_f16_f32_avx2, "dot_f16_f32_avx2"));
        k.dot_row_f32[type_index(GgmlType::BF16)] = Some((dot_bf16_f32_avx2, "dot_bf16_f32_avx2"));
        let q8a_avx2: [(GgmlType, super::DotQ8a, &'static str); 10] = [
            (GgmlType::Q8_0, dot_q8_0_q8a_avx2, "dot_q8_0_q8a_avx2"),
            (GgmlType::Q4_0, dot_q4_0_q8a_avx2, "dot_q4_0_q8a_avx2"),
            (GgmlType::Q4_1, dot_q4_1_q8a_avx2, "dot_q4_1_q8a_avx2"),
            (GgmlType::Q5_0, dot_q5_0_q8a_avx2, "dot_q5_0_q8a_avx2"),
            (GgmlType::Q5_1, dot_q5_1_q8a_avx2, "dot_q5_1_q8a_avx2"),
            (GgmlType::Q4_K, dot_q4_k_q8a_avx2, "dot_q4_k_q8a_avx2"),
            (GgmlType::Q5_K, dot_q5_k_q8a_avx2, "dot_q5_k_q8a_avx2"),
            (GgmlType::Q6_K, dot_q6_k_q8a_avx2, "dot_q6_k_q8a_avx2"),
            (GgmlType::Q2_K, dot_q2_k_q8a_avx2, "dot_q2_k_q8a_avx2"),
            (GgmlType::Q3_K, dot_q3_k_q8a_avx2, "dot_q3_k_q8a_avx2"),
        ];
        for (t, f, name) in q8a_avx2 {
            k.dot_rows_q8a[type_index(t)] = Some((f, name));
        }
        let dequant_avx2: [(GgmlType, super::DequantFn, &'static str); 12] = [
            (GgmlType::Q8_0, dequant_q8_0_avx2, "dequant_q8_0_avx2"),
            (GgmlType::Q4_0, dequant_q4_0_avx2, "dequant_q4_0_avx2"),
            (GgmlType::Q4_1, dequant_q4_1_avx2, "dequant_q4_1_avx2"),
            (GgmlType::Q5_0, dequant_q5_0_avx2, "dequant_q5_0_avx2"),
            (GgmlType::Q5_1, dequant_q5_1_avx2, "dequant_q5_1_avx2"),
            (GgmlType::Q4_K, dequant_q4_k_avx2, "dequant_q4_k_avx2"),
            (GgmlType::Q5_K, dequant_q5_k_avx2, "dequant_q5_k_avx2"),
            (GgmlType::Q6_K, dequant_q6_k_avx2, "dequant_q6_k_avx2"),
            (GgmlType::F16, dequant_f16_avx2, "dequant_f16_avx2"),
            (GgmlType::BF16, dequant_bf16_avx2, "dequant_bf16_avx2"),
            (GgmlType::Q2_K, dequant_q2_k_avx2, "dequant_q2_k_avx2"),
            (GgmlType::Q3_K, dequant_q3_k_avx2, "dequant_q3_k_avx2"),
        ];
        for (t, f, name) in dequant_avx2 {
            k.dequant_f32[type_index(t)] = Some((f, name));
        }
        if tier < Tier::Avx512 {
            return;
        }
        let dequant_avx512: [(GgmlType, super::DequantFn, &'static str); 12] = [
            (GgmlType::Q8_0, dequant_q8_0_avx512, "dequant_q8_0_avx512"),
            (GgmlType::Q4_0, dequant_q4_0_avx512, "dequant_q4_0_avx512"),
            (GgmlType::Q4_1, dequant_q4_1_avx512, "dequant_q4_1_avx512"),
            (GgmlType::Q5_0, dequant_q5_0_avx512, "dequant_q5_0_avx512"),
            (GgmlType::Q5_1, dequant_q5_1_avx512, "dequant_q5_1_avx512"),
            (GgmlType::Q4_K, dequant_q4_k_avx512, "dequant_q4_k_avx512"),
            (GgmlType::Q5_K, dequant_q5_k_avx512, "dequant_q5_k_avx512"),
            (GgmlType::Q6_K, dequant_q6_k_avx512, "dequant_q6_k_avx512"),
            (GgmlType::F16, dequant_f16_avx512, "dequant_f16_avx512"),
            (GgmlType::BF16, dequant_bf16_avx512, "dequant_bf16_avx512"),
            (GgmlType::Q2_K, dequant_q2_k_avx512, "dequant_q2_k_avx512"),
            (GgmlType::Q3_K, dequant_q3_k_avx512, "dequant_q3_k_avx512"),
        ];
        for (t, f, name) in dequant_avx512 {
            k.dequant_f32[type_index(t)] = Some((f, name));
        }
        k.dot_f32 = dot_f32_avx512;
        k.dot_f32_name = "dot_f32_avx512";
        k.dot_row_f32[type_index(GgmlType::Q8_0)] = Some((dot_q8_0_f32_avx512, "dot_q8_0_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q4_1)] = Some((dot_q4_1_f32_avx512, "dot_q4_1_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q4_0)] = Some((dot_q4_0_f32_avx512, "dot_q4_0_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q5_0)] = Some((dot_q5_0_f32_avx512, "dot_q5_0_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q6_K)] = Some((dot_q6_k_f32_avx512, "dot_q6_k_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::F16)] = Some((dot_f16_f32_avx512, "dot_f16_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::BF16)] = Some((dot_bf16_f32_avx512, "dot_bf16_f32_avx512"));
        k.attn_scores = attn_scores_avx512;
        k.attn_softmax = attn_softmax_avx512;
        k.attn_accum = attn_accum_avx512;
        k.attn_name = "attn_avx512";
        k.swiglu = swiglu_avx512;
        k.geglu = geglu_avx512;
        k.glu_name = "glu_avx512";
        k.gemm_packed = Some(super::PackedGemm { f: gemm_packed_12x32_avx512, mr: 12, nr: 32, name: "gemm_packed_12x32_avx512" });
        k.transpose_16x16 = Some((transpose_16x16_avx512, "transpose_16x16_avx512"));
        k.quantize_q8a = quantize_q8a_avx512;
        k.quantize_q8a_name = "quantize_q8a_avx512";
        if tier < Tier::Avx512Vnni {
            return;
        }
        let q8a: [(GgmlType, super::DotQ8a, &'static str); 10] = [
            (GgmlType::Q8_0, dot_q8_0_q8a_avx512vnni, "dot_q8_0_q8a_avx512vnni"),
            (GgmlType::Q4_0, dot_q4_0_q8a_avx512vnni, "dot_q4_0_q8a_avx512vnni"),
            (GgmlType::Q4_1, dot_q4_1_q8a_avx512vnni, "dot_q4_1_q8a_avx512vnni"),
            (GgmlType::Q5_0, dot_q5_0_q8a_avx512vnni, "dot_q5_0_q8a_avx512vnni"),
            (GgmlType::Q5_1, dot_q5_1_q8a_avx512vnni, "dot_q5_1_q8a_avx512vnni"),
            (GgmlType::Q4_K, dot_q4_k_q8a_avx512vnni, "dot_q4_k_q8a_avx512vnni"),
            (GgmlType::Q5_K, dot_q5_k_q8a_avx512vnni, "dot_q5_k_q8a_avx512vnni"),
            (GgmlType::Q6_K, dot_q6_k_q8a_avx512vnni, "dot_q6_k_q8a_avx512vnni"),
            (GgmlType::Q2_K, dot_q2_k_q8a_avx512vnni, "dot_q2_k_q8a_avx512vnni"),
            (GgmlType::Q3_K, dot_q3_k_q8a_avx512vnni, "dot_q3_k_q8a_avx512vnni"),
        ];
        for (t, f, name) in q8a {
            k.dot_rows_q8a[type_index(t)] = Some((f, name));
        }
        k.gemm_q8a = Some(super::Q8aGemm {
            f32u: gemm_q8a_6x32_u32_avx512vnni,
            f16u: gemm_q8a_6x32_u16_avx512vnni,
            mr: 6,
            nr: 32,
            name: "gemm_q8a_6x32_avx512vnni",
        });
    }
}

/// AArch64 (NEON, NEON + dotprod) kernels from `asm/aarch64/`. No aarch64 Rust toolchain runs in
/// CI, so these kernels are also checked under qemu by a C harness (`tests/aarch64/run.sh`).
#[cfg(all(lanner_asm, target_arch = "aarch64"))]
mod arm {
    use super::{Kernels, Tier};

    use super::type_index;
    use crate::quant::GgmlType;

    extern "C" {
        fn lanner_quantize_q8a_neon(x: *const f32, qs: *mut i8, ds: *mut f32, nblocks: usize);
        fn lanner_dot_q8_0_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_0_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_1_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_0_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_1_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q4_k_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q5_k_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q6_k_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q2_k_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_q3_k_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32, nblocks: usize, nrows: usize, out: *mut f32);
        fn lanner_dot_f32_neon(a: *const f32, b: *const f32, n: usize) -> f32;
        fn lanner_dot_q8_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_1_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_f16_f32_neon(w: *const u8, x: *const f32, n: usize) -> f32;
        fn lanner_dot_bf16_f32_neon(w: *const u8, x: *const f32, n: usize) -> f32;
        fn lanner_gemm_f32_4x4_neon(w: *const f32, ldw: usize, x: *const f32, ldx: usize, k: usize, c: *mut f32, ldc: usize);
        fn lanner_gemm_packed_8x12_neon(wp: *const f32, xp: *const f32, kc: usize, c: *mut f32, ldc: usize, fresh: usize);
    }

    packed_kernel!(gemm_packed_8x12_neon, lanner_gemm_packed_8x12_neon, 8, 12);

    fn gemm_f32_4x4_neon(w: &[f32], ldw: usize, x: &[f32], ldx: usize, k: usize, c: &mut [f32], ldc: usize) {
        assert!(k % 4 == 0 && k <= ldw && k <= ldx && 4 <= ldc, "gemm 4x4: bad shape");
        assert!(w.len() >= 3 * ldw + k && x.len() >= 3 * ldx + k && c.len() >= 3 * ldc + 4, "gemm 4x4: short buffers");
        // SAFETY: bounds checked above; NEON is part of every tier this entry is filled at.
        unsafe { lanner_gemm_f32_4x4_neon(w.as_ptr(), ldw, x.as_ptr(), ldx, k, c.as_mut_ptr(), ldc) }
    }

    row_kernel!(dot_q8_0_f32_neon, lanner_dot_q8_0_f32_neon, 32, 34);
    row_kernel!(dot_q4_0_f32_neon, lanner_dot_q4_0_f32_neon, 32, 18);
    row_kernel!(dot_q4_1_f32_neon, lanner_dot_q4_1_f32_neon, 32, 20);
    row_kernel!(dot_f16_f32_neon, lanner_dot_f16_f32_neon, 1, 2);
    row_kernel!(dot_bf16_f32_neon, lanner_dot_bf16_f32_neon, 1, 2);

    fn quantize_q8a_neon(x: &[f32], qs: &mut [i8], ds: &mut [f32]) {
        let nb = x.len() / 32;
        assert!(x.len() % 32 == 0 && qs.len() == 2 * x.len() && ds.len() == 2 * nb, "quantize_q8a: lengths");
        // SAFETY: NEON is part of every tier this entry is filled at; exactly nb blocks are read
        // and written.
        unsafe { lanner_quantize_q8a_neon(x.as_ptr(), qs.as_mut_ptr(), ds.as_mut_ptr(), nb) }
    }

    q8a_kernel!(dot_q8_0_q8a_dotprod, lanner_dot_q8_0_q8a_dotprod, 32, 34);
    q8a_kernel!(dot_q4_0_q8a_dotprod, lanner_dot_q4_0_q8a_dotprod, 32, 18);
    q8a_kernel!(dot_q4_1_q8a_dotprod, lanner_dot_q4_1_q8a_dotprod, 32, 20);
    q8a_kernel!(dot_q5_0_q8a_dotprod, lanner_dot_q5_0_q8a_dotprod, 32, 22);
    q8a_kernel!(dot_q4_k_q8a_dotprod, lanner_dot_q4_k_q8a_dotprod, 256, 144);
    q8a_kernel!(dot_q6_k_q8a_dotprod, lanner_dot_q6_k_q8a_dotprod, 256, 210);
    q8a_kernel!(dot_q5_1_q8a_dotprod, lanner_dot_q5_1_q8a_dotprod, 32, 24);
    q8a_kernel!(dot_q5_k_q8a_dotprod, lanner_dot_q5_k_q8a_dotprod, 256, 176);
    q8a_kernel!(dot_q2_k_q8a_dotprod, lanner_dot_q2_k_q8a_dotprod, 256, 84);
    q8a_kernel!(dot_q3_k_q8a_dotprod, lanner_dot_q3_k_q8a_dotprod, 256, 110);

    fn dot_f32_neon(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: the table only holds this entry at the NEON tiers; the kernel reads exactly n
        // floats from each pointer.
        unsafe { lanner_dot_f32_neon(a.as_ptr(), b.as_ptr(), n) }
    }

    pub fn fill(k: &mut Kernels, tier: Tier) {
        if tier < Tier::Neon {
            return;
        }
        k.dot_f32 = dot_f32_neon;
        k.dot_f32_name = "dot_f32_neon";
        k.dot_row_f32[type_index(GgmlType::Q8_0)] = Some((dot_q8_0_f32_neon, "dot_q8_0_f32_neon"));
        k.dot_row_f32[type_index(GgmlType::Q4_0)] = Some((dot_q4_0_f32_neon, "dot_q4_0_f32_neon"));
        k.dot_row_f32[type_index(GgmlType::Q4_1)] = Some((dot_q4_1_f32_neon, "dot_q4_1_f32_neon"));
        k.dot_row_f32[type_index(GgmlType::F16)] = Some((dot_f16_f32_neon, "dot_f16_f32_neon"));
        k.dot_row_f32[type_index(GgmlType::BF16)] = Some((dot_bf16_f32_neon, "dot_bf16_f32_neon"));
        k.gemm_f32_4x4 = gemm_f32_4x4_neon;
        k.gemm_k_multiple = 4;
        k.gemm_name = "gemm_f32_4x4_neon";
        k.gemm_packed = Some(super::PackedGemm { f: gemm_packed_8x12_neon, mr: 8, nr: 12, name: "gemm_packed_8x12_neon" });
        k.quantize_q8a = quantize_q8a_neon;
        k.quantize_q8a_name = "quantize_q8a_neon";
        if tier < Tier::NeonDotprod {
            return;
        }
        let q8a: [(GgmlType, super::DotQ8a, &'static str); 10] = [
            (GgmlType::Q8_0, dot_q8_0_q8a_dotprod, "dot_q8_0_q8a_dotprod"),
            (GgmlType::Q4_0, dot_q4_0_q8a_dotprod, "dot_q4_0_q8a_dotprod"),
            (GgmlType::Q4_1, dot_q4_1_q8a_dotprod, "dot_q4_1_q8a_dotprod"),
            (GgmlType::Q5_0, dot_q5_0_q8a_dotprod, "dot_q5_0_q8a_dotprod"),
            (GgmlType::Q5_1, dot_q5_1_q8a_dotprod, "dot_q5_1_q8a_dotprod"),
            (GgmlType::Q4_K, dot_q4_k_q8a_dotprod, "dot_q4_k_q8a_dotprod"),
            (GgmlType::Q5_K, dot_q5_k_q8a_dotprod, "dot_q5_k_q8a_dotprod"),
            (GgmlType::Q6_K, dot_q6_k_q8a_dotprod, "dot_q6_k_q8a_dotprod"),
            (GgmlType::Q2_K, dot_q2_k_q8a_dotprod, "dot_q2_k_q8a_dotprod"),
            (GgmlType::Q3_K, dot_q3_k_q8a_dotprod, "dot_q3_k_q8a_dotprod"),
        ];
        for (t, f, name) in q8a {
            k.dot_rows_q8a[type_index(t)] = Some((f, name));
        }
    }
}

#[cfg(test)]
mod checkasm {
    //! checkasm-style harness: every kernel of every tier this machine has, against the scalar
    //! reference, on seeded random inputs with odd lengths and unaligned starts.

    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn f32(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    /// `CHECKASM_SEED` replays a failing run; otherwise each test's fixed default.
    fn seed_or(default: u64) -> u64 {
        std::env::var("CHECKASM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
    }

    const LENGTHS: &[usize] = &[0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 576, 1023, 1025, 4864];

    #[test]
    fn dot_f32_every_tier() {
        let seed = seed_or(0x5EED_u64);
        let mut rng = Rng(seed | 1);
        let tiers = available_tiers();
        for &tier in &tiers {
            let k = Kernels::for_tier(tier);
            for &n in LENGTHS {
                for off in [0usize, 1, 3] {
                    // unaligned starts: slices begin `off` floats into the buffers
                    let a: Vec<f32> = (0..n + off).map(|_| rng.f32()).collect();
                    let b: Vec<f32> = (0..n + off).map(|_| rng.f32()).collect();
                    let (a, b) = (&a[off..], &b[off..]);
                    let want = reference::dot_f32(a, b);
                    let got = (k.dot_f32)(a, b);
                    let mag: f32 = a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum();
                    let tol = 1e-6 * mag + 1e-30;
                    assert!(
                        (want - got).abs() <= tol,
                        "{} (tier {}) n={n} off={off}: {got} vs reference {want} (seed {seed:#x})",
                        k.dot_f32_name,
                        tier.name()
                    );
                }
            }
        }
        eprintln!("checkasm dot_f32: tiers {:?}", tiers.iter().map(|t| t.name()).collect::<Vec<_>>());
    }

    #[test]
    fn dot_row_f32_every_tier_and_type() {
        use crate::quant::{self, GgmlType, ALL_TYPES};
        let seed = seed_or(0xB10C_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for t in ALL_TYPES {
                let Some((f, name)) = k.dot_row_f32[type_index(t)] else { continue };
                // F16 / BF16 "blocks" are single values: lengths around the kernels' 8-, 16-, 32-
                // and 64-value steps as well
                let counts: &[usize] = if t.is_float() {
                    &[0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 31, 33, 48, 63, 64, 65, 127, 129, 1000, 4864]
                } else {
                    &[1, 2, 3, 7, 18, 48]
                };
                for &nb in counts {
                    let n = nb * t.block_size();
                    for off in [0usize, 1, 3] {
                        let src: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
                        // weights at an unaligned byte offset, guard bytes around them
                        let rb = t.row_bytes(n).unwrap();
                        let mut buf = vec![0xA5u8; rb + off + 16];
                        quant::quantize_row(t, &src, &mut buf[off..off + rb]);
                        let xs: Vec<f32> = (0..n + off).map(|_| rng.f32()).collect();
                        let (w, x) = (&buf[off..off + rb], &xs[off..]);
                        let want = quant::dot_f32(t, w, x);
                        let got = f(w, x);
                        let mut deq = vec![0f32; n];
                        quant::dequantize_row(t, w, &mut deq);
                        let mag: f32 = deq.iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
                        assert!(
                            (want - got).abs() <= 2e-6 * mag + 1e-30,
                            "{name} (tier {}) {} blocks off={off}: {got} vs reference {want} (seed {seed:#x})",
                            tier.name(),
                            nb
                        );
                        assert!(buf[..off].iter().chain(&buf[off + rb..]).all(|&b| b == 0xA5), "guard bytes changed");
                        checked += 1;
                    }
                }
                let _ = GgmlType::F32;
            }
        }
        eprintln!("checkasm dot_row_f32: {checked} cases");
    }

    /// Activations with a different magnitude per 32-value block (10^-e .. 10^e), all-zero
    /// blocks, subnormal blocks (if `subnormal`, else more zero blocks), and exact rounding ties
    /// (x / d = k + 1/2).
    fn activations(rng: &mut Rng, n: usize, e: i32, subnormal: bool) -> Vec<f32> {
        let mut x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        for (b, xb) in x.chunks_mut(32).enumerate() {
            match rng.next() % 8 {
                0 => xb.fill(0.0),
                1 if !subnormal => xb.fill(0.0),
                1 => xb.iter_mut().for_each(|v| *v *= 1e-40), // subnormal: e rounds to 0 or coarse
                2 => {
                    // d = 1 exactly (max 127), the others on half steps: ties to even
                    for (j, v) in xb.iter_mut().enumerate() {
                        *v = if j == b % 32 { 127.0 } else { (rng.next() % 255) as f32 - 127.0 + 0.5 };
                    }
                }
                3 => xb.iter_mut().enumerate().for_each(|(j, v)| *v = if j == 7 { -3.0 } else { 0.0 }),
                _ => {
                    let p = (rng.next() % (2 * e as u64 + 1)) as i32 - e;
                    xb.iter_mut().for_each(|v| *v *= 10f32.powi(p));
                }
            }
        }
        x
    }

    #[test]
    fn quantize_q8a_every_tier_bit_exact() {
        let seed = seed_or(0x0A8A_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for nb in [0usize, 1, 2, 3, 7, 18, 48, 152] {
                let n = 32 * nb;
                for off in [0usize, 1, 3] {
                    let xs = activations(&mut rng, n + off, 30, true);
                    let x = &xs[off..];
                    let (mut qs, mut ds) = (vec![0x5Ai8; 2 * n + off + 64], vec![f32::NAN; 2 * nb + off + 16]);
                    (k.quantize_q8a)(x, &mut qs[off..off + 2 * n], &mut ds[off..off + 2 * nb]);
                    let (mut wq, mut wd) = (vec![0i8; 2 * n], vec![0f32; 2 * nb]);
                    q8a::quantize(x, &mut wq, &mut wd);
                    for b in 0..2 * nb {
                        // 32-value blocks of plane 1, then of plane 2; the scales of block b % nb
                        let (got, want) = (&qs[off + 32 * b..off + 32 * b + 32], &wq[32 * b..32 * b + 32]);
                        let b = b % nb;
                        assert!(
                            got == want && ds[off + 2 * b].to_bits() == wd[2 * b].to_bits() && ds[off + 2 * b + 1].to_bits() == wd[2 * b + 1].to_bits(),
                            "{} (tier {}) block {b} of {nb}, off={off}: {got:?} e={} s={} vs reference {want:?} e={} s={} (seed {seed:#x})",
                            k.quantize_q8a_name,
                            tier.name(),
                            ds[off + 2 * b],
                            ds[off + 2 * b + 1],
                            wd[2 * b],
                            wd[2 * b + 1]
                        );
                    }
                    assert!(qs[..off].iter().chain(&qs[off + 2 * n..]).all(|&v| v == 0x5A), "qs guard bytes changed");
                    assert!(ds[..off].iter().chain(&ds[off + 2 * nb..]).all(|v| v.is_nan()), "ds guard values changed");
                    checked += 1;
                }
            }
        }
        eprintln!("checkasm quantize_q8a: {checked} cases");
    }

    /// A weight row of type `t`: either the reference quantizer on data whose magnitude changes
    /// per block (10^-4 .. 10^4), or random bytes with every f16 scale field set to a random
    /// finite value (levels, 6-bit and i8 sub-scales over their whole range).
    fn weights(rng: &mut Rng, t: crate::quant::GgmlType, n: usize) -> Vec<u8> {
        use crate::quant::{self, GgmlType};
        let mut w = vec![0u8; t.row_bytes(n).unwrap()];
        if rng.next() % 2 == 0 {
            let mut src: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            for xb in src.chunks_mut(t.block_size()) {
                let e = (rng.next() % 9) as i32 - 4;
                xb.iter_mut().for_each(|v| *v *= 10f32.powi(e));
            }
            quant::quantize_row(t, &src, &mut w);
            return w;
        }
        w.iter_mut().for_each(|b| *b = rng.next() as u8);
        let f16s: &[usize] = match t {
            GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
            GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
            GgmlType::Q6_K => &[208],
            GgmlType::Q2_K => &[80, 82],
            GgmlType::Q3_K => &[108],
            _ => &[],
        };
        for blk in w.chunks_exact_mut(t.type_size()) {
            for &o in f16s {
                let v = rng.f32() * 10f32.powi((rng.next() % 9) as i32 - 4);
                blk[o..o + 2].copy_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
            }
        }
        w
    }

    /// Tolerance: kernel and reference compute the same exact integer dot per block and the same
    /// scale products (at most 3 roundings each), and sum the N block terms in different orders
    /// (the reference in sequence, the kernels lane-wise over two accumulators, then a tree).
    /// Both errors are bounded by about (N + 8) u sum|term| (u = 2^-24), and sum|term| <= the
    /// magnitude `q8a::dot_magnitude` (every product's absolute value, level and min/offset parts
    /// apart), so |kernel - reference| <= (N + 16) eps mag, eps = 2u: 2e-6 of the magnitude at
    /// N = 1, 2e-5 at N = 152 (a 4864-long row). A wrong lane or block moves the result by about
    /// 1 / (32 N) of it, far more at every tested length; measured errors stay below 4% of it.
    #[test]
    fn dot_rows_q8a_every_tier_and_type() {
        use crate::quant::ALL_TYPES;
        let seed = seed_or(0xD07A_u64);
        let mut rng = Rng(seed | 1);
        let (mut checked, mut worst) = (0, 0f32);
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for t in ALL_TYPES {
                let Some((f, name)) = k.dot_rows_q8a[type_index(t)] else { continue };
                // Q8A blocks: any count for 32-value weight blocks, whole super-blocks for K types
                let per = t.block_size() / 32;
                let counts: &[usize] = if per == 1 { &[1, 2, 3, 4, 5, 7, 18, 19, 48, 152] } else { &[1, 2, 3, 5, 6, 19] };
                for nb in counts.iter().map(|c| c * per) {
                    let n = 32 * nb;
                    let rb = t.row_bytes(n).unwrap();
                    for (rows, wo, qo, dofs) in [(1usize, 0usize, 0usize, 0usize), (2, 1, 3, 1), (3, 3, 1, 3), (1, 5, 63, 2), (0, 1, 1, 1)] {
                        // rows at an unaligned byte offset, guard bytes around them and the output
                        let mut wbuf = vec![0xA5u8; rows * rb + wo + 16];
                        for r in 0..rows {
                            wbuf[wo + r * rb..wo + (r + 1) * rb].copy_from_slice(&weights(&mut rng, t, n));
                        }
                        let w = &wbuf[wo..wo + rows * rb];
                        // magnitudes that keep every scale product a normal float (subnormal
                        // products lose their relative precision whatever the order)
                        let x = activations(&mut rng, n, 20, false);
                        let (mut qs, mut ds) = (vec![0i8; 2 * n + qo], vec![0f32; 2 * nb + dofs]);
                        q8a::quantize(&x, &mut qs[qo..], &mut ds[dofs..]);
                        let a = Q8a { qs: &qs[qo..], ds: &ds[dofs..] };
                        let mut out = vec![f32::NAN; rows + 2];
                        f(w, a, &mut out[1..rows + 1]);
                        assert!(out[0].is_nan() && out[rows + 1].is_nan(), "{name} wrote outside its output");
                        for r in 0..rows {
                            let wr = &w[r * rb..(r + 1) * rb];
                            let (want, got) = (q8a::dot(t, wr, a), out[1 + r]);
                            let mag = q8a::dot_magnitude(t, wr, a);
                            let tol = (nb + 16) as f32 * f32::EPSILON * mag + f32::MIN_POSITIVE;
                            worst = worst.max((want - got).abs() / tol);
                            assert!(
                                (want - got).abs() <= tol,
                                "{name} (tier {}) {n} values, row {r} of {rows}, offsets {wo}/{qo}/{dofs}: {got} vs reference {want}, tolerance {tol} (seed {seed:#x})",
                                tier.name()
                            );
                        }
                        assert!(wbuf[..wo].iter().chain(&wbuf[wo + rows * rb..]).all(|&b| b == 0xA5), "weight guard bytes changed");
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("checkasm dot_rows_q8a: {checked} cases, largest |error| / tolerance {worst:.3}");
    }

    /// Head sizes for the attention kernels: every tail shape of the 8-, 16-, 32- and 64-float
    /// steps, the usual head_dim values and larger.
    const HEAD_DIMS: &[usize] = &[0, 1, 5, 8, 13, 16, 31, 32, 33, 40, 63, 64, 72, 80, 96, 100, 112, 128, 200, 255, 256];
    /// Key counts: partial tiles of 8 and 16 keys, one and several whole tiles, and more.
    const KEY_COUNTS: &[usize] = &[0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48];

    /// `n` rows of `hd` random values, `stride` apart, starting `off` floats into the buffer; the
    /// padding between and after the rows is NaN, so a kernel that used any of it would show.
    fn kv_rows(rng: &mut Rng, n: usize, hd: usize, stride: usize, off: usize) -> Vec<f32> {
        let len = if n == 0 { 0 } else { (n - 1) * stride + hd };
        let mut buf = vec![f32::NAN; off + len + 8];
        for j in 0..n {
            buf[off + j * stride..off + j * stride + hd].iter_mut().for_each(|v| *v = rng.f32());
        }
        buf
    }

    /// Attention scores against the reference: tolerance scaled to scale * sum |q k| (the kernels
    /// sum the products in a different order); the returned maximum must be the largest score
    /// written, bit for bit, and the values around `out` must stay untouched.
    #[test]
    fn attn_scores_every_tier() {
        let seed = seed_or(0xA77E_u64);
        let mut rng = Rng(seed | 1);
        let (mut checked, mut worst) = (0, 0f32);
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for &hd in HEAD_DIMS {
                for &n in KEY_COUNTS {
                    for (pad, off) in [(0usize, 0usize), (3, 1), (hd + 5, 1)] {
                        let stride = hd + pad;
                        let qs: Vec<f32> = (0..hd + off).map(|_| rng.f32()).collect();
                        let q = &qs[off..];
                        let kbuf = kv_rows(&mut rng, n, hd, stride, off);
                        let keys = &kbuf[off..kbuf.len() - 8];
                        let scale = 0.125 + rng.f32().abs();
                        let mut out = vec![f32::NAN; n + 2 + off];
                        let got_max = (k.attn_scores)(q, keys, stride, scale, &mut out[1 + off..1 + off + n]);
                        let mut want = vec![0f32; n];
                        reference::attn_scores(q, keys, stride, scale, &mut want);
                        let got = &out[1 + off..1 + off + n];
                        for j in 0..n {
                            let row = &keys[j * stride..j * stride + hd];
                            let mag: f32 = scale * q.iter().zip(row).map(|(a, b)| (a * b).abs()).sum::<f32>();
                            let tol = 1e-6 * mag + 1e-30;
                            worst = worst.max((got[j] - want[j]).abs() / tol);
                            assert!(
                                (got[j] - want[j]).abs() <= tol,
                                "{} (tier {}) hd={hd} n={n} stride={stride} off={off}, key {j}: {} vs reference {} (seed {seed:#x})",
                                k.attn_name,
                                tier.name(),
                                got[j],
                                want[j]
                            );
                        }
                        let max = got.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                        assert!(
                            got_max.to_bits() == max.to_bits(),
                            "{} (tier {}) hd={hd} n={n}: returned maximum {got_max}, largest score {max} (seed {seed:#x})",
                            k.attn_name,
                            tier.name()
                        );
                        assert!(out[..1 + off].iter().chain(&out[1 + off + n..]).all(|v| v.is_nan()), "{} wrote outside its scores", k.attn_name);
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("checkasm attn_scores: {checked} cases, largest |error| / tolerance {worst:.3}");
    }

    /// Weighted sums of value rows against the reference: tolerance scaled to |acc| + sum |p v|
    /// per value; the values around `acc` must stay untouched.
    #[test]
    fn attn_accum_every_tier() {
        let seed = seed_or(0xACC0_u64);
        let mut rng = Rng(seed | 1);
        let (mut checked, mut worst) = (0, 0f32);
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for &hd in HEAD_DIMS {
                for &n in KEY_COUNTS {
                    for (pad, off) in [(0usize, 0usize), (3, 1), (hd + 5, 1)] {
                        let stride = hd + pad;
                        // softmax-like weights: non-negative, some exactly zero
                        let ps: Vec<f32> = (0..n + off).map(|_| if rng.next() % 5 == 0 { 0.0 } else { rng.f32().abs() }).collect();
                        let p = &ps[off..];
                        let vbuf = kv_rows(&mut rng, n, hd, stride, off);
                        let values = &vbuf[off..vbuf.len() - 8];
                        let mut acc = vec![f32::NAN; hd + 2 + off];
                        acc[1 + off..1 + off + hd].iter_mut().for_each(|v| *v = rng.f32());
                        let mut want = acc[1 + off..1 + off + hd].to_vec();
                        let start = want.clone();
                        (k.attn_accum)(p, values, stride, &mut acc[1 + off..1 + off + hd]);
                        reference::attn_accum(p, values, stride, &mut want);
                        let got = &acc[1 + off..1 + off + hd];
                        for d in 0..hd {
                            let mag = start[d].abs() + (0..n).map(|j| (p[j] * values[j * stride + d]).abs()).sum::<f32>();
                            let tol = 1e-6 * mag + 1e-30;
                            worst = worst.max((got[d] - want[d]).abs() / tol);
                            assert!(
                                (got[d] - want[d]).abs() <= tol,
                                "{} (tier {}) hd={hd} n={n} stride={stride} off={off}, value {d}: {} vs reference {} (seed {seed:#x})",
                                k.attn_name,
                                tier.name(),
                                got[d],
                                want[d]
                            );
                        }
                        assert!(acc[..1 + off].iter().chain(&acc[1 + off + hd..]).all(|v| v.is_nan()), "{} wrote outside acc", k.attn_name);
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("checkasm attn_accum: {checked} cases, largest |error| / tolerance {worst:.3}");
    }

    /// Softmax numerators against the reference (Rust's `f32::exp`): each value within 4 units
    /// in the last place (the kernels' polynomial is good to about 1), or 1e-44 absolute where
    /// the result is subnormal; the sum within its rounding bound of the exact sum.
    /// Arguments of exp span [-120, 0], with exact zeros (the maximum itself), -inf (a score of
    /// -inf) and the range where exp turns subnormal.
    #[test]
    fn attn_softmax_every_tier() {
        let seed = seed_or(0x50F7_u64);
        let mut rng = Rng(seed | 1);
        let (mut checked, mut worst) = (0, 0f32);
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for &n in LENGTHS {
                for off in [0usize, 1, 3] {
                    let max = rng.f32() * 30.0;
                    let mut buf = vec![f32::NAN; n + off + 2];
                    for v in &mut buf[1 + off..1 + off + n] {
                        *v = match rng.next() % 16 {
                            0 => max,
                            1 => f32::NEG_INFINITY,
                            2 => max - 86.0 - 20.0 * rng.f32().abs(),
                            _ => max - 120.0 * rng.f32().abs().powi(3),
                        };
                    }
                    let mut want = buf[1 + off..1 + off + n].to_vec();
                    let want_sum = reference::attn_softmax(&mut want, max);
                    let sum = (k.attn_softmax)(&mut buf[1 + off..1 + off + n], max);
                    for (i, (&g, &w)) in buf[1 + off..].iter().zip(&want).enumerate() {
                        let tol = 4.0 * f32::EPSILON * w + 1e-44;
                        worst = worst.max((g - w).abs() / tol);
                        assert!(
                            (g - w).abs() <= tol,
                            "{} (tier {}) n={n} off={off}, value {i}: exp({}) = {g} vs reference {w} (seed {seed:#x})",
                            k.attn_name,
                            tier.name(),
                            want[i].ln()
                        );
                    }
                    // against the exact sum of the reference's values: each value 4 ulp off at
                    // most, and the kernels' lanes add up to n / 8 values each, then a tree
                    let exact: f64 = want.iter().map(|&v| v as f64).sum();
                    let tol = ((n / 8 + 16) as f64 * f32::EPSILON as f64) * exact;
                    assert!(
                        (sum as f64 - exact).abs() <= tol,
                        "{} (tier {}) n={n}: sum {sum} vs exact {exact} (reference {want_sum}) (seed {seed:#x})",
                        k.attn_name,
                        tier.name()
                    );
                    assert!(buf[..1 + off].iter().chain(&buf[1 + off + n..]).all(|v| v.is_nan()), "{} wrote outside x", k.attn_name);
                    checked += 1;
                }
            }
        }
        eprintln!("checkasm attn_softmax: {checked} cases, largest |error| / tolerance {worst:.3}");
    }

    /// SwiGLU and GeGLU against the references: within 8 units in the last place of |x up| (the
    /// kernels write both as x up sigmoid(y) with their own exp; the tanh form of the GeGLU
    /// reference loses more than that to cancellation where 1 + tanh(u) is small). Gates span
    /// +-30 (both tails of the sigmoid), with zeros, and a few at +-200 (exp overflows).
    #[test]
    fn glu_every_tier() {
        let seed = seed_or(0x61E0_u64);
        let mut rng = Rng(seed | 1);
        let (mut checked, mut worst) = (0, 0f32);
        type Glu = fn(&mut [f32], &[f32]);
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            let kinds: [(&str, Glu, Glu); 2] = [("swiglu", k.swiglu, reference::swiglu), ("geglu", k.geglu, reference::geglu)];
            for (what, f, reference) in kinds {
                for &n in LENGTHS {
                    for off in [0usize, 1, 3] {
                        let up: Vec<f32> = (0..n + off).map(|_| rng.f32() * 4.0).collect();
                        let up = &up[off..];
                        let mut gate = vec![f32::NAN; n + off + 2];
                        for v in &mut gate[1 + off..1 + off + n] {
                            *v = match rng.next() % 16 {
                                0 => 0.0,
                                1 => 200.0 * rng.f32().signum(),
                                2..=5 => 30.0 * rng.f32(),
                                _ => 6.0 * rng.f32(),
                            };
                        }
                        let x = gate[1 + off..1 + off + n].to_vec();
                        let mut want = x.clone();
                        reference(&mut want, up);
                        f(&mut gate[1 + off..1 + off + n], up);
                        for i in 0..n {
                            let (g, w) = (gate[1 + off + i], want[i]);
                            let tol = 8.0 * f32::EPSILON * (x[i] * up[i]).abs() + 1e-37;
                            worst = worst.max((g - w).abs() / tol);
                            assert!(
                                (g - w).abs() <= tol,
                                "{what} {} (tier {}) n={n} off={off}, value {i}: x={} up={}: {g} vs reference {w} (seed {seed:#x})",
                                k.glu_name,
                                tier.name(),
                                x[i],
                                up[i]
                            );
                        }
                        assert!(gate[..1 + off].iter().chain(&gate[1 + off + n..]).all(|v| v.is_nan()), "{what} wrote outside gate");
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("checkasm glu: {checked} cases, largest |error| / tolerance {worst:.3}");
    }

    /// FFmpeg's checked call: every asm kernel this machine can run gives the callee-saved
    /// registers (rbx, rbp, r12..r15) back unchanged.
    #[cfg(all(lanner_asm, target_arch = "x86_64"))]
    #[test]
    fn asm_kernels_keep_callee_saved_registers() {
        let top = cpu_info().detected;
        let mut buf = vec![0u8; 65536];
        let mut n = 0;
        for (name, tier, f, args) in x86::asm_entry_points(&mut buf) {
            if tier > top || !same_family(tier, top) {
                continue;
            }
            let mut ret = f32::NAN;
            // SAFETY: the tier is supported; the arguments describe small valid calls into buf.
            let clobbered = unsafe { x86::lanner_checkasm_call(f, args.as_ptr(), &mut ret) };
            assert_eq!(clobbered, 0, "{name} changed a callee-saved register (xor {clobbered:#x})");
            n += 1;
        }
        eprintln!("checkasm callee-saved registers: {n} kernels");
    }

    /// `cargo test --release --lib checkasm::bench -- --ignored --nocapture`: single-token row
    /// kernels of each x86 tier from AVX2 up, f32 activations vs Q8A, over a weight matrix that
    /// stays in L2 (1 MiB) and one that streams from memory (64 MiB). Prints weight GB/s and the
    /// speed-up (the Q8A time includes quantizing the activations). The filter also matches the
    /// other `bench_*` tests here (`checkasm::bench_dequant` alone: the row dequantizers).
    #[test]
    #[ignore]
    fn bench() {
        use crate::quant::{self, ALL_TYPES};
        use std::time::Instant;
        let mut rng = Rng(7);
        for tier in available_tiers().into_iter().filter(|&t| t >= Tier::Avx2) {
        let k = Kernels::for_tier(tier);
        for t in ALL_TYPES {
            let Some((fq, qname)) = k.dot_rows_q8a[type_index(t)] else { continue };
            let fk = k.dot_row_f32[type_index(t)];
            let fname = fk.map_or("dot_f32 (scalar reference)", |(_, n)| n);
            let ff = |w: &[u8], x: &[f32]| fk.map_or_else(|| quant::dot_f32(t, w, x), |(f, _)| f(w, x));
            let short = if t.block_size() == 256 { 1024 } else { 576 };
            for (cols, mib) in [(short, 1usize), (4864, 1), (short, 64), (4864, 64)] {
                let rb = t.row_bytes(cols).unwrap();
                let rows = (mib << 20) / rb;
                let src: Vec<f32> = (0..cols * 4).map(|_| rng.f32()).collect();
                let mut w = vec![0u8; rb * rows];
                for r in 0..rows {
                    let s = &src[(r % 4) * cols..(r % 4 + 1) * cols];
                    quant::quantize_row(t, s, &mut w[r * rb..(r + 1) * rb]);
                }
                let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
                let mut a = q8a::Q8aRow::new(cols);
                let mut out = vec![0f32; rows];
                let time = |f: &dyn Fn() -> f32| {
                    let mut best = f64::MAX;
                    let mut sink = 0f32;
                    for _ in 0..7 {
                        let t0 = Instant::now();
                        sink += f();
                        best = best.min(t0.elapsed().as_secs_f64());
                    }
                    std::hint::black_box(sink);
                    best
                };
                let t_f32 = time(&|| (0..rows).map(|r| ff(&w[r * rb..(r + 1) * rb], &x)).sum());
                let t_q8a = {
                    let mut best = f64::MAX;
                    for _ in 0..7 {
                        let t0 = Instant::now();
                        let q8a::Q8aRow { qs, ds } = &mut a;
                        (k.quantize_q8a)(&x, qs, ds);
                        fq(&w, a.view(), &mut out);
                        best = best.min(t0.elapsed().as_secs_f64());
                        std::hint::black_box(&out);
                    }
                    best
                };
                let gbs = |s: f64| (rb * rows) as f64 / s / 1e9;
                eprintln!(
                    "{:<5} cols {cols:>5} {mib:>2} MiB: {fname} {:5.1} GB/s, {qname} {:5.1} GB/s, x{:.2}",
                    t.name(),
                    gbs(t_f32),
                    gbs(t_q8a),
                    t_f32 / t_q8a
                );
            }
        }
        }
    }

    /// `cargo test --release --lib checkasm::bench_float_rows -- --ignored --nocapture`: the fused
    /// F16 / BF16 row x f32 kernels of each x86 tier from AVX2 up against the scalar reference
    /// (`quant::dot_f32`), over weights that stay in L2 (1 MiB) or stream from memory (64 MiB).
    /// Prints weight GB/s and the speed-up.
    #[test]
    #[ignore]
    fn bench_float_rows() {
        use crate::quant::{self, ALL_TYPES};
        use std::time::Instant;
        let mut rng = Rng(5);
        let tiers: Vec<Tier> = available_tiers().into_iter().filter(|&t| t >= Tier::Avx2).collect();
        for t in ALL_TYPES.into_iter().filter(|t| t.is_float() && *t != crate::quant::GgmlType::F32) {
            for (cols, mib) in [(576usize, 1usize), (4864, 1), (576, 64), (4864, 64)] {
                let rb = t.row_bytes(cols).unwrap();
                let rows = (mib << 20) / rb;
                let src: Vec<f32> = (0..cols * 4).map(|_| rng.f32()).collect();
                let mut w = vec![0u8; rb * rows];
                for r in 0..rows {
                    quant::quantize_row(t, &src[(r % 4) * cols..(r % 4 + 1) * cols], &mut w[r * rb..(r + 1) * rb]);
                }
                let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
                let time = |f: &dyn Fn(&[u8], &[f32]) -> f32| {
                    let mut best = f64::MAX;
                    for _ in 0..7 {
                        let t0 = Instant::now();
                        let sum: f32 = (0..rows).map(|r| f(&w[r * rb..(r + 1) * rb], &x)).sum();
                        best = best.min(t0.elapsed().as_secs_f64());
                        std::hint::black_box(sum);
                    }
                    best
                };
                let t_ref = time(&|w, x| quant::dot_f32(t, w, x));
                let gbs = |s: f64| (rb * rows) as f64 / s / 1e9;
                eprintln!("{:<5} cols {cols:>5} {mib:>2} MiB: {:<20} {:5.1} GB/s", t.name(), "dot_f32 (scalar)", gbs(t_ref));
                let mut done = Vec::new();
                for &tier in &tiers {
                    let k = Kernels::for_tier(tier);
                    let Some((f, name)) = k.dot_row_f32[type_index(t)].filter(|(_, n)| !done.contains(n)) else { continue };
                    // what the backend ran without the fused kernel: the row dequantized, then dot_f32
                    let buf = std::cell::RefCell::new(vec![0f32; cols]);
                    let t_two = time(&|w, x| {
                        let mut b = buf.borrow_mut();
                        k.dequantize(t, w, &mut b);
                        (k.dot_f32)(&b, x)
                    });
                    let s = time(&f);
                    eprintln!(
                        "{:<5} cols {cols:>5} {mib:>2} MiB: {name:<20} {:5.1} GB/s  x{:.1} (dequantize + {}: {:5.1} GB/s, x{:.2})",
                        t.name(),
                        gbs(s),
                        t_ref / s,
                        k.dot_f32_name,
                        gbs(t_two),
                        t_two / s
                    );
                    done.push(name);
                }
            }
        }
    }

    /// `cargo test --release --lib bench_gemm_packed -- --ignored --nocapture`: GFLOP/s of each
    /// tier's packed GEMM microkernel on one weight panel (k = 256) against 40 token tiles, the
    /// shape the framework runs (panels in L1/L2).
    #[test]
    #[ignore]
    fn bench_gemm_packed() {
        use std::time::Instant;
        let mut rng = Rng(11);
        for tier in available_tiers() {
            let Some(g) = Kernels::for_tier(tier).gemm_packed else { continue };
            let (mr, nr, kc, tiles) = (g.mr, g.nr, 256usize, 40usize);
            let wp: Vec<f32> = (0..kc * nr).map(|_| rng.f32()).collect();
            let xp: Vec<f32> = (0..kc * mr * tiles).map(|_| rng.f32() * 1e-3).collect();
            let mut c = vec![0f32; tiles * mr * nr];
            let mut best = f64::MAX;
            for _ in 0..20 {
                let t0 = Instant::now();
                for i in 0..tiles {
                    // SAFETY: tile i of c holds mr rows of nr floats.
                    unsafe { (g.f)(&wp, &xp[i * mr * kc..], kc, c[i * mr * nr..].as_mut_ptr(), nr, false) };
                }
                best = best.min(t0.elapsed().as_secs_f64());
            }
            std::hint::black_box(&c);
            let flops = 2.0 * (kc * mr * nr * tiles) as f64;
            eprintln!("{:<28} {:6.1} GFLOP/s", g.name, flops / best / 1e9);
        }
    }

    #[test]
    fn transpose_16x16_every_tier() {
        let seed = seed_or(0x7A25_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let Some((f, name)) = Kernels::for_tier(tier).transpose_16x16 else { continue };
            for (lds, ldd) in [(16usize, 16usize), (17, 32), (256, 19)] {
                let src: Vec<f32> = (0..15 * lds + 17).map(|_| rng.f32()).collect();
                // unaligned (+1 float), guard values (NaN) everywhere the transpose must not write
                let mut dst = vec![f32::NAN; 15 * ldd + 16 + 9];
                let mut want = dst.clone();
                f(&src[1..], lds, &mut dst[1..], ldd);
                reference::transpose_16x16(&src[1..], lds, &mut want[1..], ldd);
                let same = dst.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{name} (tier {}) lds={lds} ldd={ldd} (seed {seed:#x})", tier.name());
                checked += 1;
            }
        }
        eprintln!("checkasm transpose_16x16: {checked} cases");
    }

    #[test]
    fn gemm_packed_every_tier_bit_exact() {
        let seed = seed_or(0x9AC4_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let Some(g) = Kernels::for_tier(tier).gemm_packed else { continue };
            let (mr, nr) = (g.mr, g.nr);
            assert!(mr * nr <= 12 * 32, "{}: tile larger than the framework's edge buffer", g.name);
            for kc in [0usize, 1, 3, 4, 5, 8, 17, 64, 256, 333] {
                for (pad, fresh) in [(0usize, false), (3, false), (0, true), (3, true)] {
                    let ldc = nr + pad;
                    // unaligned panels (+1 float), C with guard values between and after rows
                    let wp: Vec<f32> = (0..kc * nr + 1).map(|_| rng.f32()).collect();
                    let xp: Vec<f32> = (0..kc * mr + 1).map(|_| rng.f32()).collect();
                    let (wp, xp) = (&wp[1..], &xp[1..]);
                    let mut c: Vec<f32> = (0..mr * ldc + 9).map(|i| if i >= 1 && (i - 1) % ldc < nr && (i - 1) / ldc < mr { rng.f32() } else { f32::NAN }).collect();
                    let mut want = c.clone();
                    // SAFETY: c[1..] holds mr rows of ldc floats.
                    unsafe { (g.f)(wp, xp, kc, c[1..].as_mut_ptr(), ldc, fresh) };
                    reference::gemm_packed(mr, nr, wp, xp, kc, &mut want[1..], ldc, fresh);
                    for (i, (&got, &e)) in c.iter().zip(&want).enumerate() {
                        assert!(
                            got.to_bits() == e.to_bits() || (got.is_nan() && e.is_nan()),
                            "{} (tier {}) kc={kc} ldc={ldc} fresh={fresh} at {i}: {got} vs reference {e} (seed {seed:#x})",
                            g.name,
                            tier.name()
                        );
                    }
                    checked += 1;
                }
            }
        }
        eprintln!("checkasm gemm_packed: {checked} cases");
    }

    /// Random packed panels for an int8 GEMM tile (see `reference::gemm_q8a`): levels anywhere in
    /// 0..=255 (`extreme`: all 255, with activations all +-127, the largest sums), planes in
    /// -127..=127, f32 scales, mins and (e, s).
    fn q8a_panels(rng: &mut Rng, mr: usize, nr: usize, g: usize, nu: usize, extreme: bool) -> (Vec<u8>, Vec<u8>) {
        let (wu, xu) = ((4 * g + 8) * nr, (8 * g + 8) * mr);
        let mut wp = vec![0u8; nu * wu];
        let mut xp = vec![0u8; nu * xu];
        for u in 0..nu {
            let w = &mut wp[u * wu..(u + 1) * wu];
            w[..4 * g * nr].iter_mut().for_each(|b| *b = if extreme { 255 } else { rng.next() as u8 });
            for i in 0..2 * nr {
                w[4 * g * nr + 4 * i..4 * g * nr + 4 * i + 4].copy_from_slice(&rng.f32().to_le_bytes());
            }
            let x = &mut xp[u * xu..(u + 1) * xu];
            for b in x[..8 * g * mr].iter_mut() {
                let q = if extreme { if rng.next() & 1 == 0 { 127 } else { -127 } } else { (rng.next() % 255) as i32 - 127 };
                *b = q as i8 as u8;
            }
            for i in 0..2 * mr {
                x[8 * g * mr + 4 * i..8 * g * mr + 4 * i + 4].copy_from_slice(&(rng.f32() * 1e-3).to_le_bytes());
            }
        }
        (wp, xp)
    }

    #[test]
    fn gemm_q8a_every_tier_bit_exact() {
        let seed = seed_or(0x18A6_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let Some(g) = Kernels::for_tier(tier).gemm_q8a else { continue };
            let (mr, nr) = (g.mr, g.nr);
            for (groups, f) in [(8, g.f32u), (4, g.f16u)] {
            for (nu, extreme) in [(0usize, false), (1, false), (2, false), (3, true), (7, false), (32, false), (33, true)] {
                for (pad, fresh) in [(0usize, false), (3, false), (0, true), (3, true)] {
                    let ldc = nr + pad;
                    // unaligned panels (+1 byte), C with guard values between and after rows
                    let (wp, xp) = q8a_panels(&mut rng, mr, nr, groups, nu, extreme);
                    let (wp, xp) = ([&[0u8][..], &wp].concat(), [&[0u8][..], &xp].concat());
                    let (wp, xp) = (&wp[1..], &xp[1..]);
                    let mut c: Vec<f32> = (0..mr * ldc + 9).map(|i| if i >= 1 && (i - 1) % ldc < nr && (i - 1) / ldc < mr { rng.f32() } else { f32::NAN }).collect();
                    let mut want = c.clone();
                    // SAFETY: c[1..] holds mr rows of ldc floats.
                    unsafe { f(wp, xp, nu, c[1..].as_mut_ptr(), ldc, fresh) };
                    reference::gemm_q8a(mr, nr, groups, wp, xp, nu, &mut want[1..], ldc, fresh);
                    for (i, (&got, &e)) in c.iter().zip(&want).enumerate() {
                        assert!(
                            got.to_bits() == e.to_bits() || (got.is_nan() && e.is_nan()),
                            "{} (tier {}) groups={groups} nu={nu} ldc={ldc} fresh={fresh} at {i}: {got} vs reference {e} (seed {seed:#x})",
                            g.name,
                            tier.name()
                        );
                    }
                    checked += 1;
                }
            }
            }
        }
        eprintln!("checkasm gemm_q8a: {checked} cases");
    }

    /// `cargo test --release --lib bench_gemm_q8a -- --ignored --nocapture`: multiply-adds per
    /// second of the int8 GEMM microkernel (k = 1024, 80 token tiles, the framework's shape) next
    /// to the f32 packed kernel on the same shape.
    #[test]
    #[ignore]
    fn bench_gemm_q8a() {
        use std::time::Instant;
        let mut rng = Rng(5);
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            let Some(g) = k.gemm_q8a else { continue };
            for (groups, f) in [(8, g.f32u), (4, g.f16u)] {
            let (nu, tiles) = (256 / groups, 86usize);
            let (wp, _) = q8a_panels(&mut rng, g.mr, g.nr, groups, nu, false);
            let xps: Vec<Vec<u8>> = (0..tiles).map(|_| q8a_panels(&mut rng, g.mr, g.nr, groups, nu, false).1).collect();
            let mut c = vec![0f32; tiles * g.mr * g.nr];
            let mut best = f64::MAX;
            for _ in 0..20 {
                let t0 = Instant::now();
                for (i, xp) in xps.iter().enumerate() {
                    // SAFETY: c holds tiles * mr rows of nr floats.
                    unsafe { f(&wp, xp, nu, c[i * g.mr * g.nr..].as_mut_ptr(), g.nr, true) };
                }
                best = best.min(t0.elapsed().as_secs_f64());
            }
            std::hint::black_box(&c);
            let macs = (tiles * g.mr * g.nr * nu * 4 * groups) as f64;
            eprintln!("{} units of {} (tier {}): {:.1} G multiply-adds/s ({:.0} GOP/s)", g.name, 4 * groups, tier.name(), macs / best / 1e9, 2.0 * macs / best / 1e9);
            }
        }
    }

    /// An f16 scale field for the dequantizer tests, sign random: the extremes (largest finite,
    /// smallest normal, smallest subnormal, zero), 1, any subnormal or any finite value; never an
    /// infinity or NaN (0 * inf would make NaNs whose payload says nothing about the kernel).
    fn f16_scale(rng: &mut Rng) -> u16 {
        let sign = ((rng.next() & 1) as u16) << 15;
        let magnitude = match rng.next() % 8 {
            0 => 0x7BFF,
            1 => 0x0400,
            2 => 0x0001,
            3 => 0,
            4 => 0x3C00,
            5 => (rng.next() % 0x400) as u16,
            _ => (rng.next() % 0x7C00) as u16,
        };
        sign | magnitude
    }

    /// `nb` blocks of `t` for the dequantizer tests: a quarter of the time the reference
    /// quantizer's output on random data, otherwise random bytes (levels, sub-scales and mins
    /// over their whole range) with every f16 scale field from `f16_scale`. F16 / BF16 values
    /// are any 16 bits, infinities and NaNs included (both conversions are exact, payloads too).
    fn dequant_blocks(rng: &mut Rng, t: crate::quant::GgmlType, nb: usize) -> Vec<u8> {
        use crate::quant::{self, GgmlType};
        let n = nb * t.block_size();
        let mut w = vec![0u8; t.row_bytes(n).unwrap()];
        if !t.is_float() && rng.next() % 4 == 0 {
            let x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            quant::quantize_row(t, &x, &mut w);
            return w;
        }
        w.iter_mut().for_each(|b| *b = rng.next() as u8);
        let f16s: &[usize] = match t {
            GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
            GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
            GgmlType::Q6_K => &[208],
            GgmlType::Q2_K => &[80, 82],
            GgmlType::Q3_K => &[108],
            _ => &[],
        };
        for blk in w.chunks_exact_mut(t.type_size()) {
            for &o in f16s {
                blk[o..o + 2].copy_from_slice(&f16_scale(rng).to_le_bytes());
            }
        }
        w
    }

    /// Every row dequantizer of every tier, called through `Kernels::dequantize`, against
    /// `quant::dequantize_row`: the same bits for every value, nothing written outside the row.
    /// Rows start aligned and at odd offsets (src + 1 byte, dst + 1 float); F16 / BF16 also get
    /// every 16-bit pattern once.
    #[test]
    fn dequant_f32_every_tier_and_type() {
        use crate::quant::{self, ALL_TYPES};
        const GUARD: u32 = 0x7FA5_A5A5; // a NaN no kernel output can be
        let seed = seed_or(0xDE0A_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for t in ALL_TYPES {
                let Some((_, name)) = k.dequant_f32[type_index(t)] else { continue };
                // F16 / BF16 "blocks" are single values: lengths around the kernels' 8, 16, 32 and
                // 64-value steps, and all 65536 patterns
                let counts: &[usize] = if t.is_float() {
                    &[0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000, 65536]
                } else {
                    &[0, 1, 2, 3, 7, 8, 9, 33]
                };
                for &nb in counts {
                    for (so, dof) in [(0usize, 0usize), (1, 1)] {
                        let n = nb * t.block_size();
                        let mut blocks = dequant_blocks(&mut rng, t, nb);
                        if nb == 65536 {
                            (0..=u16::MAX).for_each(|v| blocks[2 * v as usize..][..2].copy_from_slice(&v.to_le_bytes()));
                        }
                        let mut sbuf = vec![0x5Au8; so + blocks.len()];
                        sbuf[so..].copy_from_slice(&blocks);
                        let src = &sbuf[so..];
                        let mut out = vec![f32::from_bits(GUARD); dof + n + 8];
                        k.dequantize(t, src, &mut out[dof..dof + n]);
                        let mut want = vec![0f32; n];
                        quant::dequantize_row(t, src, &mut want);
                        for (i, (g, w)) in out[dof..dof + n].iter().zip(&want).enumerate() {
                            assert!(
                                g.to_bits() == w.to_bits(),
                                "{name} (tier {}) {nb} blocks, offsets {so}/{dof}: value {i} (block {}) is {g:e} ({:#010x}), reference {w:e} ({:#010x}) (seed {seed:#x})",
                                tier.name(),
                                i / t.block_size(),
                                g.to_bits(),
                                w.to_bits()
                            );
                        }
                        assert!(
                            out[..dof].iter().chain(&out[dof + n..]).all(|v| v.to_bits() == GUARD),
                            "{name} (tier {}) {nb} blocks, offsets {so}/{dof}: wrote outside its row (seed {seed:#x})",
                            tier.name()
                        );
                        assert!(sbuf[..so].iter().all(|&b| b == 0x5A) && sbuf[so..] == blocks[..], "{name} changed its source");
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("checkasm dequant_f32: {checked} cases");
    }

    /// Row dequantizers of each x86 tier from AVX2 up against the scalar reference: rows into a
    /// 4-row buffer, from weights that stay in L2 (1 MiB) or stream from memory (32 MiB). Rows of
    /// 256 values are the packed GEMM's k blocks (one call per 256 values, so the per-call cost
    /// shows); rows of 1024 keep the buffer in L1 (16 KiB); rows of 4096 put it in L2 (64 KiB),
    /// where the stores bound every kernel. Prints ns per block, weight GB/s and the speed-up
    /// (see `bench` for the command).
    #[test]
    #[ignore]
    fn bench_dequant() {
        use crate::quant::{self, ALL_TYPES};
        use std::time::Instant;
        let mut rng = Rng(11);
        let tiers: Vec<Tier> = available_tiers().into_iter().filter(|&t| t >= Tier::Avx2).collect();
        let reference = Kernels::for_tier(Tier::Scalar);
        for t in ALL_TYPES {
            if tiers.iter().all(|&tier| Kernels::for_tier(tier).dequant_f32[type_index(t)].is_none()) {
                continue;
            }
            for (cols, mib) in [(256usize, 1usize), (256, 32), (1024, 1), (1024, 32), (4096, 1), (4096, 32)] {
                let rb = t.row_bytes(cols).unwrap();
                let blocks = (mib << 20) / rb * (cols / t.block_size());
                // four quantized rows, repeated
                let mut four = vec![0u8; 4 * rb];
                for r in 0..4 {
                    let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
                    quant::quantize_row(t, &x, &mut four[r * rb..(r + 1) * rb]);
                }
                let rows = (mib << 20) / rb;
                let w: Vec<u8> = four.iter().copied().cycle().take(rows * rb).collect();
                let mut buf = vec![0f32; 4 * cols];
                let mut time = |k: &Kernels| {
                    let mut best = f64::MAX;
                    for _ in 0..5 {
                        let t0 = Instant::now();
                        for r in 0..rows {
                            k.dequantize(t, &w[r * rb..(r + 1) * rb], &mut buf[(r % 4) * cols..(r % 4 + 1) * cols]);
                        }
                        best = best.min(t0.elapsed().as_secs_f64());
                        std::hint::black_box(&buf);
                    }
                    best
                };
                let t_ref = time(&reference);
                let line = |name: &str, s: f64| {
                    let (ns, gbs) = (s * 1e9 / blocks as f64, (rows * rb) as f64 / s / 1e9);
                    eprintln!("{:<5} cols {cols:>4} {mib:>2} MiB: {name:<20} {ns:7.2} ns/block {gbs:5.1} GB/s  x{:.1}", t.name(), t_ref / s);
                };
                line("reference (scalar)", t_ref);
                let mut done = Vec::new();
                for &tier in &tiers {
                    // each kernel once (the VNNI tier uses the AVX-512 ones)
                    let k = Kernels::for_tier(tier);
                    if let Some((_, name)) = k.dequant_f32[type_index(t)].filter(|(_, n)| !done.contains(n)) {
                        line(name, time(&k));
                        done.push(name);
                    }
                }
            }
        }
    }

    /// `cargo test --release --lib checkasm::attn_bench -- --ignored --nocapture`: the attention
    /// kernels of each tier on one 16-key block (as in the KV cache: rows of a 3-head kv_dim),
    /// with the block in L1, and walking 600 keys of a cache that stays in L2.
    #[test]
    #[ignore]
    fn attn_bench() {
        use std::time::Instant;
        let mut rng = Rng(11);
        for tier in available_tiers() {
            let k = Kernels::for_tier(tier);
            for hd in [64usize, 80, 128, 256] {
                let stride = 3 * hd;
                for keys in [16usize, 608] {
                    let kv: Vec<f32> = (0..keys * stride).map(|_| rng.f32()).collect();
                    let q: Vec<f32> = (0..hd).map(|_| rng.f32()).collect();
                    let mut p = vec![0f32; keys];
                    let mut acc = vec![0f32; hd];
                    let reps = (2_000_000 / (keys * hd)).max(1);
                    let time = |f: &mut dyn FnMut()| {
                        let mut best = f64::MAX;
                        for _ in 0..5 {
                            let t0 = Instant::now();
                            for _ in 0..reps {
                                f();
                            }
                            best = best.min(t0.elapsed().as_secs_f64());
                        }
                        best / (reps * keys / 16) as f64 * 1e9
                    };
                    let ts = time(&mut || {
                        for (b, o) in p.chunks_mut(16).enumerate() {
                            std::hint::black_box((k.attn_scores)(&q, &kv[b * 16 * stride..], stride, 0.125, o));
                        }
                    });
                    let ta = time(&mut || {
                        for (b, w) in p.chunks(16).enumerate() {
                            (k.attn_accum)(w, &kv[b * 16 * stride..], stride, &mut acc);
                        }
                        std::hint::black_box(&acc);
                    });
                    eprintln!("{:<12} hd {hd:>3} keys {keys:>3}: scores {ts:6.1} ns, accum {ta:6.1} ns per 16 keys", k.attn_name);
                }
            }
        }
    }

    #[test]
    fn gemm_f32_4x4_every_tier() {
        let seed = seed_or(0x6E44_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for kk in [0usize, 8, 16, 24, 32, 48, 576, 896, 4864] {
                if kk % k.gemm_k_multiple != 0 {
                    continue;
                }
                for (pad_w, pad_x, pad_c) in [(0usize, 0usize, 0usize), (3, 5, 7), (16, 1, 2)] {
                    let (ldw, ldx, ldc) = (kk + pad_w, kk + pad_x, 4 + pad_c);
                    let w: Vec<f32> = (0..4 * ldw + 1).map(|_| rng.f32()).collect();
                    let x: Vec<f32> = (0..4 * ldx + 1).map(|_| rng.f32()).collect();
                    // unaligned starts (+1 float) and guard values around every row of C
                    let (w, x) = (&w[1..], &x[1..]);
                    let mut c = vec![f32::NAN; 4 * ldc + 8];
                    let mut want = c.clone();
                    (k.gemm_f32_4x4)(w, ldw, x, ldx, kk, &mut c[1..], ldc);
                    reference::gemm_f32_4x4(w, ldw, x, ldx, kk, &mut want[1..], ldc);
                    for (i, (&g, &e)) in c.iter().zip(&want).enumerate() {
                        let written = i >= 1 && (i - 1) % ldc < 4 && (i - 1) / ldc < 4;
                        if !written {
                            assert!(g.is_nan(), "{} wrote outside its tile at {i} (seed {seed:#x})", k.gemm_name);
                            continue;
                        }
                        let (t, r) = ((i - 1) / ldc, (i - 1) % ldc);
                        let mag: f32 = (0..kk).map(|j| (w[r * ldw + j] * x[t * ldx + j]).abs()).sum();
                        assert!(
                            (g - e).abs() <= 1e-6 * mag + 1e-30,
                            "{} (tier {}) k={kk} t={t} r={r}: {g} vs reference {e} (seed {seed:#x})",
                            k.gemm_name,
                            tier.name()
                        );
                    }
                    checked += 1;
                }
            }
        }
        eprintln!("checkasm gemm_f32_4x4: {checked} cases");
    }
}
